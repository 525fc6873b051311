"""Privacy: PII redaction before storage, sealed (AES-GCM) clear content, crypto-shredding, retention.

One module per job: :mod:`detectors` find personal data, :mod:`policy` says what to do
with it, :mod:`redaction` replaces it with placeholders, :mod:`keystore` keeps the keys
that can be destroyed, :mod:`sealing` encrypts, :mod:`guard` applies all of it to records
and results, :mod:`retention` decides what may be erased. None of them knows SQL.
"""
