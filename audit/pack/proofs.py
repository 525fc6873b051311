"""The proof files of a pack: the checkpoint (row and C2SP note, with witness cosignatures), the log
index, each exported event's inclusion path, and the consistency proof from an earlier checkpoint.

All from :mod:`audit.integrity` (:class:`~audit.integrity.merkle.MerkleTree`, the C2SP note
format); nothing here computes a hash in a second way.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..integrity.merkle import MerkleTree
from ..integrity.note import SIGNATURE_PREFIX, checkpoint_body, read_note, sign_note
from ..integrity.signing import SigningKey, VerifyKey
from .collect import Collected

COSIGNATURE_BYTES = 76  # C2SP tlog-cosignature/v1: key hash (4) || timestamp (8) || Ed25519 signature (64)


def checkpoint_document(found: Collected, origin: str) -> dict[str, Any]:
    """The checkpoint row as the log signed it (message :func:`audit.integrity.signing.checkpoint_message`)."""
    cp = found.checkpoint
    return {
        "origin": origin,
        "tree_size": cp.tree_size,
        "root_hash": cp.root_hash,
        "signed_at": cp.signed_at,
        "key_id": cp.key_id,
        "public_key": cp.public_key,
        "signature": cp.signature,
    }


def checkpoint_note(found: Collected, origin: str, key: SigningKey, witnessed: Path | None) -> str:
    """The checkpoint as a C2SP signed note by the log's key, with the cosignature lines of ``witnessed``
    (a note of the same tree returned by witnesses: `checkpoint --export`, then cosigned)."""
    body = checkpoint_body(origin, found.tree_size, bytes.fromhex(found.checkpoint.root_hash))
    note = sign_note(body, origin, key)
    if witnessed is None:
        return note
    text = _read_text(witnessed)
    their_body, _, block = text.partition("\n\n")
    if their_body + "\n" != body:
        raise UserError(
            f"{witnessed} is a note of another checkpoint than the one exported (tree size {found.tree_size}): "
            "pass the witnessed note of the log's newest checkpoint, or leave out --witnessed"
        )
    cosignatures = [line for line in block.split("\n") if _is_cosignature(line)]
    if not cosignatures:
        raise UserError(
            f"{witnessed} carries no witness cosignature line (C2SP tlog-cosignature): leave out --witnessed"
        )
    return note + "".join(line + "\n" for line in cosignatures)


def _is_cosignature(line: str) -> bool:
    parts = line.split(" ")
    if len(parts) != 3 or not line.startswith(SIGNATURE_PREFIX):
        return False
    try:
        return len(base64.b64decode(parts[2], validate=True)) == COSIGNATURE_BYTES
    except (binascii.Error, ValueError):
        return False


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(
            f"cannot read the checkpoint note {path} ({exc}): pass a file of `checkpoint --export`"
        ) from None


def index_lines(found: Collected) -> list[dict[str, Any]]:
    """One header per event of the log at the checkpoint: what the verifier rebuilds the chain and root from. An event
    signed by its writer (since 0.3) carries its signature: its leaf uses the domain ``llm-audit/event/v2``."""
    lines = []
    for e in found.events:
        line = {
            "created_at": e.created_at,
            "kind": e.kind,
            "payload_sha256": e.payload_sha256,
            "seq": e.seq,
            "subject_id": e.subject_id,
        }
        if e.seq in found.signatures:
            line["signature"] = found.signatures[e.seq]
        lines.append(line)
    return lines


def tree_of(found: Collected) -> MerkleTree:
    """The Merkle tree at the checkpoint, checked against the signed root (a mismatch was caught by verify first)."""
    tree = MerkleTree(bytes.fromhex(e.leaf_hash) for e in found.events)
    if tree.root().hex() != found.checkpoint.root_hash:
        raise UserError("the log does not recompute to its newest checkpoint's root: run `llm-audit verify`")
    return tree


def since_document(tree: MerkleTree, origin: str, note_path: Path, log_keys: list[VerifyKey]) -> dict[str, Any]:
    """The earlier checkpoint the requester named, with the RFC 6962 consistency proof from it to the pack's."""
    note = read_note(note_path)
    if note.origin != origin:
        raise UserError(f"{note_path} is a checkpoint of log {note.origin}, not of this log ({origin})")
    if note.signed_by(log_keys) is None:
        raise UserError(
            f"{note_path} is not signed by this log's key: pass a note written by `llm-audit checkpoint --export`"
        )
    if note.tree_size > tree.size:
        raise UserError(
            f"{note_path} covers {note.tree_size} events, more than the newest checkpoint ({tree.size}): "
            "the log was truncated, or sign a checkpoint first with `llm-audit checkpoint`"
        )
    if note.tree_size and tree.root(note.tree_size) != note.root:
        raise UserError(
            f"the log does not extend {note_path} (tree size {note.tree_size}): its first events were rewritten; "
            "run `llm-audit verify --against` it"
        )
    return {
        "origin": note.origin,
        "tree_size": note.tree_size,
        "root": base64.b64encode(note.root).decode("ascii"),
        "signatures": [base64.b64encode(s.key_hash + s.signature).decode("ascii") for s in note.signatures],
        "proof": [h.hex() for h in tree.consistency_proof(note.tree_size)],
    }
