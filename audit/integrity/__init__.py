"""Tamper evidence for the audit log, in the manner of Certificate Transparency (RFC 6962).

Every event is hashed into one chain (:mod:`.chain`), the chain's leaves form a Merkle
tree (:mod:`.merkle`), and Ed25519-signed checkpoints (:mod:`.signing`) pin its size and
root. :mod:`.verify` recomputes all of it from the database; :mod:`.proof` exports one
record with an inclusion proof that can be checked offline.

The pure modules here (canonical, chain, merkle, signing) import nothing from the store, so
the store can use them when appending; :mod:`.keys` (which key file a command uses),
:mod:`.verify` and :mod:`.proof` work through the store and never the other way round.
"""
