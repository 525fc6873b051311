"""Export one record's events with inclusion proofs, and check such a file offline.

A proof file lets a validator or regulator check one applicant's dossier without the
database and without seeing any other record: the events of the record (generation,
explanations, ...), the blobs they reference, each event's audit path, and the signed
checkpoint the paths lead to. Checking it needs only this module and the public key.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..store import AuditStore
from ..store.checkpoints import TRANSITION
from .canonical import canonical_bytes
from .chain import ChainedEvent, recompute_leaf
from .merkle import MerkleTree, verify_inclusion
from .signing import VerifyKey, checkpoint_message, load_key, transition_message
from .trust import TrustFile

FORMAT = "llm-audit-proof/v1"


def build_proof(store: AuditStore, record_id: str) -> dict[str, Any]:
    """The proof document for every event whose subject is ``record_id`` (a unique prefix works)."""
    if not store.events.is_chained():
        raise UserError(f"{store.path} predates the hash chain: run `llm-audit checkpoint` once first")
    record_id = store.records.get(record_id).id if store.records.exists() else record_id
    events = list(store.events.iter_chain(subject_id=record_id))
    if not events:
        raise UserError(f"no event for {record_id!r} in this log: run `llm-audit list` to see the ids")
    checkpoint = store.checkpoints.latest()
    newest = max(e.seq for e in events)
    if checkpoint is None or checkpoint.tree_size < newest:
        raise UserError(
            f"event seq {newest} of {record_id} is not covered by a signed checkpoint yet: run `llm-audit checkpoint` first"
        )
    tree = MerkleTree(store.events.leaf_hashes(limit=checkpoint.tree_size))
    blobs: dict[str, str] = {}
    evidence = store.evidence
    for event in events:
        repository = evidence.get(event.kind)
        for digest in repository.blob_digests(json.loads(event.payload)) if repository is not None else []:
            data = store.blobs.stored_bytes(digest)
            if data is not None:
                blobs[digest] = base64.b64encode(data).decode("ascii")

    def proven(e: ChainedEvent) -> dict[str, Any]:
        return {
            "seq": e.seq,
            "kind": e.kind,
            "subject_id": e.subject_id,
            "created_at": e.created_at,
            "payload": json.loads(e.payload),
            "payload_sha256": e.payload_sha256,
            "prev_hash": e.prev_hash,
            "leaf_hash": e.leaf_hash,
            "signature": store.events.signature_at(e.seq),
            "inclusion_path": [h.hex() for h in tree.inclusion_proof(e.seq - 1)],
        }

    # The key transitions up to the checkpoint, each proven in the log: a validator who pinned an earlier key
    # follows them to the checkpoint's signer, as verify does.
    transitions = [e for e in store.events.iter_chain(kind=TRANSITION) if e.seq <= checkpoint.tree_size]
    return {
        "format": FORMAT,
        "origin": store.events.origin(),
        "record_id": record_id,
        "checkpoint": {k: v for k, v in checkpoint.to_dict().items() if k != "id"},
        "events": [proven(e) for e in events],
        "transitions": [proven(e) for e in transitions],
        "blobs": blobs,
    }


@dataclass
class ProofResult:
    ok: bool
    record_id: str
    events: int
    tree_size: int
    key_id: str
    key_pinned: bool
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if not self.ok:
            return f"INVALID: {self.problems[0]}" + (
                f" (+{len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
            )
        pin = (
            ", verified against the pinned key"
            if self.key_pinned
            else " (UNPINNED: checked against the key the file itself carries; pass --key or `llm-audit trust add`)"
        )
        return f"OK: {self.events} events of {self.record_id} are in the log of {self.tree_size} events signed by key {self.key_id}{pin}"


def verify_proof_document(
    doc: dict[str, Any], trusted: VerifyKey | list[VerifyKey] | None = None, binding: bool = True
) -> ProofResult:
    """Check a proof document; ``trusted`` (a key, or the trust file's keys) pins the signer, else the embedded key is
    used. A pinned key vouches for the keys it handed over to (the proof's key transitions, each proven in the log).
    ``binding`` False (key pins of the trust file, not of this log): they pin the proof only if they signed it,
    else it is unpinned, as ``verify`` says of such a log."""
    pins = [trusted] if isinstance(trusted, VerifyKey) else list(trusted or [])
    try:
        if doc.get("format") != FORMAT:
            raise UserError(f"not an llm-audit proof (format {doc.get('format')!r}, expected {FORMAT})")
        cp = doc["checkpoint"]
        size, root_hex = int(cp["tree_size"]), str(cp["root_hash"])
        embedded = VerifyKey.from_raw_hex(cp["public_key"], "the proof's public key")
        handed = _handed_over(pins, doc.get("transitions", []), size, bytes.fromhex(root_hex))
        if pins and not binding and cp["key_id"] not in handed:
            pins = []  # key pins of other logs say nothing about this one: unpinned
        result = ProofResult(True, str(doc["record_id"]), len(doc["events"]), size, embedded.key_id, bool(pins))
        key = (embedded if cp["key_id"] in handed else None) if pins else embedded
        if key is None:
            ids = ", ".join(k.key_id for k in pins)
            result.problems.append(f"checkpoint signed by key {cp['key_id']}, not by a trusted key ({ids})")
        elif embedded.key_id != cp["key_id"]:
            result.problems.append(f"checkpoint key id {cp['key_id']} does not match its public key")
        elif not key.verify(cp["signature"], checkpoint_message(size, root_hex, cp["signed_at"])):
            result.problems.append("checkpoint signature is not valid for its tree size, root and time")
        root = bytes.fromhex(root_hex)
        for raw in doc["events"]:
            seq = int(raw["seq"])
            text = canonical_bytes(raw["payload"])
            digest = hashlib.sha256(text).hexdigest()
            if digest != raw["payload_sha256"]:
                result.problems.append(f"seq {seq}: payload does not match its payload_sha256")
            event = ChainedEvent(
                seq,
                raw["kind"],
                raw["subject_id"],
                raw["created_at"],
                text.decode(),
                digest,
                raw["prev_hash"],
                raw["leaf_hash"],
            )
            if recompute_leaf(event, bool(raw.get("signature"))) != raw["leaf_hash"]:
                result.problems.append(f"seq {seq}: leaf hash does not match the event's fields")
            path = [bytes.fromhex(h) for h in raw["inclusion_path"]]
            if not verify_inclusion(bytes.fromhex(raw["leaf_hash"]), seq - 1, size, path, root):
                result.problems.append(f"seq {seq}: inclusion proof does not lead to the signed root")
        for digest, encoded in doc.get("blobs", {}).items():
            if hashlib.sha256(base64.b64decode(encoded)).hexdigest() != digest:
                result.problems.append(f"blob {digest[:16]}…: content does not match its SHA-256")
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(
            f"the proof file is malformed ({type(exc).__name__}: {exc}): export it again with `llm-audit proof`"
        ) from None
    result.ok = not result.problems
    return result


def write_proof(doc: dict[str, Any], output: Path) -> None:
    try:
        output.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot write {output}: {exc.strerror}") from None


def read_proof(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError:
        raise UserError(f"{path} is not JSON: pass a file written by `llm-audit proof`") from None
    if not isinstance(doc, dict):
        raise UserError(f"{path} is not an llm-audit proof")
    return doc


def _handed_over(pins: list[VerifyKey], transitions: list[dict[str, Any]], size: int, root: bytes) -> set[str]:
    """The pinned key ids and every key a pinned key handed over to through a valid transition proven in the log."""
    trusted = {k.key_id for k in pins}
    for raw in sorted(transitions, key=lambda t: int(t["seq"])):
        p = raw["payload"]
        text = canonical_bytes(p)
        digest = hashlib.sha256(text).hexdigest()
        event = ChainedEvent(
            int(raw["seq"]), raw["kind"], raw["subject_id"], raw["created_at"], text.decode(), digest,
            raw["prev_hash"], raw["leaf_hash"],
        )  # fmt: skip
        path = [bytes.fromhex(h) for h in raw["inclusion_path"]]
        signed = bool(raw.get("signature"))
        if (
            raw["kind"] != TRANSITION
            or digest != raw["payload_sha256"]
            or recompute_leaf(event, signed) != raw["leaf_hash"]
        ):
            continue
        if int(raw["seq"]) > size or not verify_inclusion(
            bytes.fromhex(raw["leaf_hash"]), event.seq - 1, size, path, root
        ):
            continue
        if p.get("prev_leaf_hash") != raw["prev_hash"]:
            continue
        old = VerifyKey.from_raw_hex(p["old_public_key"], "the old key")
        new = VerifyKey.from_raw_hex(p["new_public_key"], "the new key")
        message = transition_message(p["old_key_id"], p["new_public_key"], p["prev_leaf_hash"])
        if old.key_id == p["old_key_id"] and new.key_id == p["new_key_id"] and old.key_id in trusted:
            if old.verify(p["old_signature"], message) and new.verify(p["new_signature"], message):
                trusted.add(new.key_id)
    return trusted


def load_trusted(path: Path | None, doc: dict[str, Any] | None = None) -> tuple[list[VerifyKey], bool]:
    """(keys, binding): the key given with ``--key``, else the trust file's pins of the proof's log (its origin),
    binding; else its key pins, which count only if they signed the proof (none: unpinned)."""
    if path is not None:
        return [load_key(path)], True
    entries = TrustFile().entries()
    origin = (doc or {}).get("origin")
    by_log = [e for e in entries if origin and e.origin == origin]
    chosen = by_log or [e for e in entries if e.origin is None]
    return [entry.verify_key(f"trusted key {entry.key_id}") for entry in chosen], bool(by_log)


def export_proof(db_path: Path, record_id: str, output: Path) -> Path:
    """Write ``record_id``'s events, blobs and inclusion proofs to ``output``."""
    with AuditStore.open(db_path) as store:
        document = build_proof(store, record_id)
    write_proof(document, output)
    return output
