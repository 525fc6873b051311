"""The hash chain: how one event becomes a leaf that commits to everything before it.

``leaf_hash = SHA256(0x00 || domain || seq || prev_hash || payload_sha256)`` where

* ``domain`` = ``b"llm-audit/event/v1"`` followed by SHA-256 of the JCS header
  ``{"created_at", "kind", "subject_id"}``: the protocol tag keeps our leaves from being
  confused with any other hash, and the header hash makes the leaf commit to *what* the
  event is and *when*, not only to its content;
* ``seq`` is 8 bytes big-endian, ``prev_hash`` the previous leaf hash (32 zero bytes for
  the first event), ``payload_sha256`` the SHA-256 of the JCS payload.

The ``0x00`` prefix is RFC 6962's leaf prefix, so these leaf hashes are directly the
leaves of the Merkle tree in :mod:`.merkle`.

Since 0.3 every event is signed by the log's key when it is appended (Ed25519 over
:func:`event_message` of its leaf hash). A signed event's leaf uses the domain
``llm-audit/event/v2``, so the leaf itself commits to the event being signed: removing a
signature changes the leaf, and an unsigned event cannot pass for a signed one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, NamedTuple

from .canonical import canonical_bytes, canonical_header

DOMAIN = b"llm-audit/event/v1"
DOMAIN_SIGNED = b"llm-audit/event/v2"  # the event carries the writer's signature (since 0.3)
SIGNATURE_CONTEXT = b"llm-audit/event-signature/v1\n"
GENESIS = bytes(32)


def event_message(leaf_hex: str) -> bytes:
    """What the writer signs when it appends an event: a context string and the event's leaf hash."""
    return SIGNATURE_CONTEXT + bytes.fromhex(leaf_hex)


def header_sha256(kind: str, subject_id: str, created_at: str) -> bytes:
    return hashlib.sha256(canonical_header(created_at, kind, subject_id)).digest()


def leaf_hash(seq: int, prev_hash: bytes, payload_sha256: bytes, header: bytes, signed: bool = False) -> bytes:
    domain = DOMAIN_SIGNED if signed else DOMAIN
    return hashlib.sha256(b"\x00" + domain + header + seq.to_bytes(8, "big") + prev_hash + payload_sha256).digest()


class ChainedEvent(NamedTuple):
    """One event as stored: canonical payload text and its three hashes (hex). A tuple: built by the
    hundred thousand when a log is verified, and immutable."""

    seq: int
    kind: str
    subject_id: str
    created_at: str
    payload: str
    payload_sha256: str
    prev_hash: str
    leaf_hash: str


@dataclass(frozen=True)
class CanonicalText:
    """A payload already in RFC 8785 form, built by a repository from the canonical texts it stores (so a record is
    canonicalised once, not once for its row and again for its event); the tests hold each builder to the encoder."""

    text: str


def seal(
    seq: int, prev_hash: bytes, kind: str, subject_id: str, created_at: str, payload: Any, signed: bool = False
) -> ChainedEvent:
    """Canonicalise ``payload`` and compute the event's hashes for position ``seq`` (``signed``: the v2 leaf of an
    event that will carry its writer's signature). A :class:`CanonicalText` is used as it is."""
    text = payload.text.encode("utf-8") if isinstance(payload, CanonicalText) else canonical_bytes(payload)
    digest = hashlib.sha256(text).digest()
    leaf = leaf_hash(seq, prev_hash, digest, header_sha256(kind, subject_id, created_at), signed)
    return ChainedEvent(
        seq, kind, subject_id, created_at, text.decode("utf-8"), digest.hex(), prev_hash.hex(), leaf.hex()
    )


def recompute_leaf(event: ChainedEvent, signed: bool = False) -> str:
    """The leaf hash ``event`` should have, from its stored fields (``signed``: it carries a signature)."""
    return leaf_hash(
        event.seq,
        bytes.fromhex(event.prev_hash),
        bytes.fromhex(event.payload_sha256),
        header_sha256(event.kind, event.subject_id, event.created_at),
        signed,
    ).hex()
