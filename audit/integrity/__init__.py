"""Tamper evidence for the audit log, in the manner of Certificate Transparency (RFC 6962).

Every event is hashed into one chain (:mod:`.chain`), the chain's leaves form a Merkle
tree (:mod:`.merkle`: roots, inclusion and consistency proofs), and Ed25519-signed
checkpoints (:mod:`.signing`) pin its size and root; exported, a checkpoint is a C2SP signed
note (:mod:`.note`). :mod:`.verify` recomputes all of it from the database and checks every
evidence row both ways, pinned to the keys of the trust file (:mod:`.trust`); :mod:`.proof`
exports one record with an inclusion proof that can be checked offline.

The pure modules here (canonical, chain, merkle, signing, note, key_location, trust) import
nothing from the store, so the store can use them when appending; :mod:`.keys` (which key a
command uses, rotation, export), :mod:`.keyring` (the Auditor's service over them),
:mod:`.verify` and :mod:`.proof` work through the store and never the other way round.
"""
