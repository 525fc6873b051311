"""Check an llm-audit evidence pack offline: ``python verifier/verify_pack.py PACK --key KEY.pub.pem``.

One folder of small modules, the standard library and ``cryptography`` only (no model, no database,
no llm-audit): a recipient can read all of it, one job per module, and runs its script
(``verify_pack.py``). ``llm-audit verify-pack`` imports this very package, so there is one verifier;
every pack carries a copy as ``verifier/``. Exit 0: everything below is proven; 1: tampered or incomplete (the first problem
named); 2: cannot check (no pinned key, not a pack, an unsafe zip).

What is checked, in order: the manifest's Ed25519 signature against the pinned key; every file's
SHA-256 and size (and no file outside the manifest); the checkpoint's signature, and the C2SP note's
signature and witness cosignatures; the log index (one header per event of the log at the
checkpoint) recomputes, leaf by leaf through the hash chain, to the signed Merkle root; every
exported event's content hashes to its leaf, whose RFC 6962 inclusion proof leads to that root;
the consistency proof from an earlier checkpoint; and the completeness statement against the index.
``formats`` (file names, signed byte strings), ``merkle`` (hashes and proofs), ``keys``, ``query``
(which records a query selects), ``result``, ``archive`` (safe unzip), ``log_checks`` and
``record_checks`` (the checks), ``checks`` (their order), ``cli``, ``verify_pack`` (the script).

Exported events are lines ``{"event":{...},"payload":<payload>}`` in RFC 8785 form, "payload" last,
so the payload's bytes are the line's tail: the very bytes the log hashed. Hashing them needs no
second JSON canonicaliser here (a re-implementation of RFC 8785's number formatting would be a
second encoding that could disagree with the first); the index headers are strings only, which
``json``'s encoder writes exactly as RFC 8785 does.
"""

from .checks import Verifier, verify_pack
from .cli import main
from .formats import (
    BLOBS,
    CHECKPOINT,
    COMPLETENESS,
    EVENTS,
    EXCLUDED,
    FORMAT,
    INDEX,
    MANIFEST,
    MANIFEST_CONTEXT,
    NOTE,
    OPENED,
    SIGNATURE,
    SINCE,
    CannotCheck,
    checkpoint_message,
    event_line,
    manifest_message,
    note_body,
    signature_file,
    split_line,
)
from .keys import ed25519_ok, key_id, load_pem, parse_vkey
from .merkle import header_hash, leaf, merkle_root, node, verify_consistency, verify_inclusion
from .query import data_subject, match, record_links
from .result import Result

__all__ = [
    "BLOBS", "CHECKPOINT", "COMPLETENESS", "EVENTS", "EXCLUDED", "FORMAT", "INDEX", "MANIFEST", "MANIFEST_CONTEXT",
    "NOTE", "OPENED", "SIGNATURE", "SINCE", "CannotCheck", "Result", "Verifier", "checkpoint_message", "data_subject",
    "ed25519_ok", "event_line", "header_hash", "key_id", "leaf", "load_pem", "main", "manifest_message", "match",
    "merkle_root", "node", "note_body", "parse_vkey", "record_links", "signature_file", "split_line",
    "verify_consistency", "verify_inclusion", "verify_pack",
]  # fmt: skip
