"""``verify``: recompute everything the log commits to, in one streaming pass.

Checks, per event in seq order: seq is gap-free, the payload hashes to
``payload_sha256``, ``prev_hash`` links to the previous leaf, the leaf hash recomputes,
and (for kinds with a projection) the component's tables still hold the logged payload.
Leaves feed a streaming Merkle accumulator; whenever it reaches a checkpoint's tree size
the root and Ed25519 signature are checked, so truncation and re-chaining after a
checkpoint are caught. Finally every blob is re-hashed against its key.

Reading uses a read-only connection: verifying can never change the evidence.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..store import AuditStore
from ..store.checkpoints import Checkpoint
from .canonical import same_content
from .chain import GENESIS, recompute_leaf
from .merkle import MerkleAccumulator
from .signing import VerifyKey, checkpoint_message, load_key

MAX_PROBLEMS = 50

# Check names, also the JUnit test case names.
CHECKS = (
    "sequence",
    "payload-hash",
    "chain-link",
    "leaf-hash",
    "tables",
    "checkpoint-root",
    "checkpoint-signature",
    "truncation",
    "blobs",
)


@dataclass(frozen=True)
class Problem:
    check: str
    seq: int | None  # first event affected; None when no single event is to blame
    what: str

    def __str__(self) -> str:
        return f"seq {self.seq}: {self.what}" if self.seq is not None else self.what


@dataclass
class VerifyResult:
    """What ``verify`` found; ``ok`` is False iff there is at least one problem."""

    database: str
    events: int = 0
    projected: int = 0
    checkpoints: int = 0
    signed_size: int = 0
    blobs: int = 0
    root_hash: str = ""
    key_id: str | None = None
    key_pinned: bool = False
    seconds: float = 0.0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def unsigned_events(self) -> int:
        return self.events - self.signed_size

    @property
    def first_problem(self) -> Problem | None:
        return self.problems[0] if self.problems else None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(ok=self.ok, unsigned_events=self.unsigned_events)
        data["problems"] = [asdict(p) for p in self.problems]
        return data

    def summary(self) -> str:
        if not self.ok:
            more = f" (+{len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
            return f"TAMPERED: {self.first_problem}{more}"
        key = f"key {self.key_id}" + (
            "" if self.key_pinned else " (not pinned: pass --key to check against your own key)"
        )
        signed = (
            f"{self.checkpoints} signed checkpoints up to seq {self.signed_size}, {key}"
            if self.checkpoints
            else "no checkpoint yet"
        )
        tail = f"; {self.unsigned_events} newest events not yet covered by a checkpoint" if self.unsigned_events else ""
        return (
            f"OK: {self.events} events ({self.projected} checked against their tables), {self.blobs} blobs, "
            f"root {self.root_hash[:16]}…; {signed}{tail} ({self.seconds:.2f} s)"
        )


class _Report:
    def __init__(self, result: VerifyResult) -> None:
        self.result = result
        self.seen = 0

    def add(self, check: str, seq: int | None, what: str) -> None:
        self.seen += 1
        if len(self.result.problems) < MAX_PROBLEMS:
            self.result.problems.append(Problem(check, seq, what))


def _trusted_key(key_path: Path | None, checkpoints: list[Checkpoint]) -> VerifyKey | None:
    if key_path is None:
        return None
    key = load_key(key_path)
    if checkpoints and key.key_id not in {c.key_id for c in checkpoints}:
        ids = ", ".join(sorted({c.key_id for c in checkpoints}))
        raise UserError(
            f"key {key_path} (id {key.key_id}) signed none of this log's checkpoints (key id {ids}): pass the right --key"
        )
    return key


def _check_checkpoint(cp: Checkpoint, root: bytes, trusted: VerifyKey | None, report: _Report) -> bool:
    """Report what is wrong with ``cp`` against the log's ``root`` at its size; True if valid."""
    before = report.seen
    label = f"checkpoint {cp.id} (tree size {cp.tree_size}, signed {cp.signed_at})"
    if root.hex() != cp.root_hash:
        report.add(
            "checkpoint-root",
            cp.tree_size,
            f"{label}: Merkle root of the log differs from the signed root: events at or before seq {cp.tree_size} were changed, inserted, removed or re-chained",
        )
    key = trusted
    if key is None or cp.key_id != key.key_id:
        key = VerifyKey.from_raw_hex(cp.public_key, f"checkpoint {cp.id}")
        if trusted is not None:
            report.add(
                "checkpoint-signature",
                cp.tree_size,
                f"{label}: signed by key {cp.key_id}, not by the trusted key {trusted.key_id}",
            )
            return False
    if key.key_id != cp.key_id:
        report.add("checkpoint-signature", cp.tree_size, f"{label}: key id {cp.key_id} does not match its public key")
    elif not key.verify(cp.signature, checkpoint_message(cp.tree_size, cp.root_hash, cp.signed_at)):
        report.add(
            "checkpoint-signature", cp.tree_size, f"{label}: Ed25519 signature is not valid for its size, root and time"
        )
    return report.seen == before


def verify_store(store: AuditStore, key_path: Path | None = None) -> VerifyResult:
    started = time.perf_counter()
    result = VerifyResult(database=str(store.path))
    report = _Report(result)
    if not store.events.exists():
        raise UserError(f"{store.path} has no event log yet: record something first with `llm-audit generate`")
    if not store.events.is_chained():
        raise UserError(
            f"{store.path} predates the hash chain: run `llm-audit checkpoint --db {store.path}` once to chain and sign it"
        )
    checkpoints = store.checkpoints.all()
    trusted = _trusted_key(key_path, checkpoints)
    result.key_pinned = trusted is not None
    result.checkpoints = len(checkpoints)
    result.key_id = trusted.key_id if trusted else (checkpoints[-1].key_id if checkpoints else None)
    for earlier, later in zip(checkpoints, checkpoints[1:]):
        if later.tree_size < earlier.tree_size:
            report.add(
                "truncation",
                later.tree_size,
                f"checkpoint {later.id} covers fewer events ({later.tree_size}) than checkpoint {earlier.id} ({earlier.tree_size})",
            )
    pending = sorted(checkpoints, key=lambda c: c.tree_size)
    next_cp = 0
    valid_sizes = [0]
    while next_cp < len(pending) and pending[next_cp].tree_size == 0:
        _check_checkpoint(pending[next_cp], MerkleAccumulator().root(), trusted, report)
        next_cp += 1

    evidence = store.evidence
    acc = MerkleAccumulator()
    prev_leaf = GENESIS.hex()
    expected = 1
    # Blobs first, so the event pass only has to look for the few damaged digests (to name
    # the event that references each) instead of scanning every payload for hashes.
    damaged: list[str] = []
    for digest, data in store.blobs.iter_stored():
        result.blobs += 1
        if hashlib.sha256(data).hexdigest() != digest:
            damaged.append(digest)
    blob_refs: dict[str, int] = {}
    generation_events = 0
    for event in store.events.iter_chain():
        seq = event.seq
        if seq != expected:
            report.add(
                "sequence",
                expected,
                f"event {expected} is missing: the next stored event is seq {seq} (rows deleted or renumbered)",
            )
            expected = seq
        expected += 1
        if hashlib.sha256(event.payload.encode("utf-8")).hexdigest() != event.payload_sha256:
            report.add(
                "payload-hash",
                seq,
                f"{event.kind} {event.subject_id}: payload does not match its payload_sha256 (payload edited)",
            )
        if event.prev_hash != prev_leaf:
            report.add(
                "chain-link",
                seq,
                "prev_hash does not link to the previous event's leaf hash (rows deleted, inserted or swapped)",
            )
        if recompute_leaf(event) != event.leaf_hash:
            report.add(
                "leaf-hash", seq, f"{event.kind} {event.subject_id}: leaf_hash does not match the event's fields"
            )
        repository = evidence.get(event.kind)
        if repository is not None:
            result.projected += 1
            generation_events += event.kind == "generation"
            try:
                if repository.payload_text(event.subject_id) == event.payload:
                    current = None  # the row reproduces the logged bytes exactly
                else:
                    current = repository.payload(event.subject_id)
            except (UserError, KeyError):
                report.add("tables", seq, f"{event.kind} {event.subject_id} is missing from its table")
            else:
                if current is not None and not same_content(event.payload, current):
                    report.add(
                        "tables",
                        seq,
                        f"{event.kind} {event.subject_id}: table row differs from the logged payload ({_diff(event.payload, current)})",
                    )
        for digest in damaged:
            if digest not in blob_refs and f'"{digest}"' in event.payload:
                blob_refs[digest] = seq
        acc.add(bytes.fromhex(event.leaf_hash))
        prev_leaf = event.leaf_hash
        while next_cp < len(pending) and pending[next_cp].tree_size == acc.size:
            if _check_checkpoint(pending[next_cp], acc.root(), trusted, report):
                valid_sizes.append(acc.size)
            next_cp += 1
    result.events = acc.size
    result.root_hash = acc.root().hex()
    for cp in pending[next_cp:]:
        report.add(
            "truncation",
            acc.size + 1,
            f"log truncated: checkpoint {cp.id} signed {cp.signed_at} covers {cp.tree_size} events, only {acc.size} remain",
        )
    result.signed_size = max(valid_sizes)

    stored_generations = store.records.count()
    if stored_generations != generation_events:
        report.add(
            "tables",
            None,
            f"the generations table holds {stored_generations} rows but the log has {generation_events} generation events (rows added outside the log)",
        )
    for digest in damaged:
        where = blob_refs.get(digest)
        report.add(
            "blobs",
            where,
            f"blob {digest[:16]}… content does not match its SHA-256"
            + (f" (referenced by seq {where})" if where else ""),
        )
    result.problems.sort(key=lambda p: (p.seq is None, p.seq or 0))
    result.seconds = time.perf_counter() - started
    return result


def _diff(logged_text: str, current: dict[str, Any]) -> str:
    import json

    logged = json.loads(logged_text)
    keys = sorted(k for k in set(logged) | set(current) if logged.get(k) != current.get(k))
    return "fields differ: " + ", ".join(keys[:8]) if keys else "values differ"


def verify_database(path: Path, key_path: Path | None = None) -> VerifyResult:
    """Open ``path`` read-only and verify it; a damaged file is a UserError (exit 2)."""
    try:
        with AuditStore.open(path) as store:
            return verify_store(store, key_path)
    except sqlite3.DatabaseError as exc:
        raise UserError(
            f"cannot read {path} ({exc}): the file is damaged or not an llm-audit database; restore it from a backup"
        ) from None


def verify_junit(result: VerifyResult) -> str:
    """JUnit XML with one test case per check, so CI shows which one failed."""
    from ..junit import JUnitCase, junit_xml

    cases = []
    for check in CHECKS:
        found = [p for p in result.problems if p.check == check]
        cases.append(
            JUnitCase(
                name=check,
                classname="llm-audit.verify",
                failure=str(found[0]) if found else None,
                details="\n".join(str(p) for p in found),
                failure_type="tampered",
            )
        )
    return junit_xml("llm-audit verify", "llm-audit verify", cases, seconds=result.seconds, output=result.summary())
