"""``verify``: recompute everything the log commits to, in one streaming pass, and say what it proves.

Checks, per event in seq order: seq is gap-free, the payload hashes to ``payload_sha256``,
``prev_hash`` links to the previous leaf, the leaf hash recomputes, and, for every evidence
kind (``AuditStore.evidence``: generations, explanations, attention maps, replays, reports,
provenance, checkpoints and whatever a later component registers), the row still holds the
logged payload and every blob it references is stored intact. Then, the other way round,
every row of every evidence table has exactly one event, at the position of its event.
Key-transition events are checked as they come (signed by the key they retire and by the
new one, tied to the leaf before them).

Leaves feed a streaming Merkle accumulator; whenever it reaches a checkpoint's tree size the
root, the Ed25519 signature and the signer are checked: the signer must be the log's key at
that point (its first signer, changed only by a valid key-transition). With pinned keys (the
trust file or ``--key``: :class:`.trust.Pins`) at least one checkpoint must be signed by a
pinned key (or a key a pinned key handed over to), else the checkpoints were removed or
re-signed; ``require_signed`` also refuses events after the last such checkpoint. Saved
checkpoints (``against``, C2SP notes) are proven to be prefixes of the log with RFC 6962
consistency proofs, so a rollback or a rewritten history is found. Unpinned results always
say that they are unpinned.

Reading uses a read-only connection: verifying can never change the evidence.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..store import AuditStore, EvidenceRepository
from ..store.checkpoints import KIND as CHECKPOINT_KIND
from ..store.checkpoints import TRANSITION, Checkpoint
from ..store.database import describe_write_error
from .canonical import jcs_safe
from .canonical_check import check_text
from .chain import GENESIS, ChainedEvent, event_message, recompute_leaf
from .columns import derived_problems, json_problems
from .merkle import MerkleAccumulator, MerkleTree, verify_consistency
from .note import NoteCheckpoint, origin_of, read_note
from .origin import log_identity
from .signing import VerifyKey, checkpoint_message, transition_message
from .trust import Pins, resolve_pins

MAX_PROBLEMS = 50

# Check names, also the JUnit test case names.
CHECKS = (
    "sequence",
    "payload-hash",
    "chain-link",
    "leaf-hash",
    "tables",
    "evidence-rows",
    "evidence-order",
    "blobs",
    "checkpoint-root",
    "checkpoint-signature",
    "checkpoint-key",
    "truncation",
    "pinning",
    "unsigned",
    "consistency",
    "stored-json",
    "derived",
    "event-signature",
)


@dataclass(frozen=True)
class Problem:
    check: str
    seq: int | None  # first event affected; None when no single event is to blame
    what: str

    def __str__(self) -> str:
        return f"seq {self.seq}: {self.what}" if self.seq is not None else self.what


@dataclass(frozen=True)
class Cover:
    """A valid checkpoint: it covers every event up to ``tree_size``."""

    checkpoint_id: int
    tree_size: int
    key_id: str
    signed_at: str
    pinned: bool  # signed by a pinned key (or one a pinned key handed over to)


@dataclass
class AgainstResult:
    """One saved checkpoint the log was checked against."""

    path: str
    origin: str
    tree_size: int
    root_hash: str
    key_id: str | None = None  # who signed the saved note (None: nobody we trust)
    proof_hashes: int = 0
    ok: bool = False


@dataclass
class VerifyResult:
    """What ``verify`` found; ``ok`` is False iff there is at least one problem."""

    database: str
    events: int = 0
    projected: int = 0  # events checked against their evidence rows
    rows: int = 0  # evidence rows checked to have their event
    checkpoints: int = 0
    signed_size: int = 0  # covered by a valid checkpoint of the log's key
    pinned_size: int = 0  # covered by a valid checkpoint of a pinned key
    blobs: int = 0
    root_hash: str = ""
    origin: str = ""
    key_id: str | None = None  # the log's current signing key
    key_pinned: bool = False
    pin_source: str = ""
    pin_warning: str | None = None
    unpinned_because: str | None = None  # a trust file that pins other logs, not this one
    require_signed: bool = False
    seconds: float = 0.0
    problems: list[Problem] = field(default_factory=list)
    covers: list[Cover] = field(default_factory=list)
    against: list[AgainstResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def covered_size(self) -> int:
        """What the result vouches for: events up to the last pinned checkpoint, or (unpinned) the last valid one."""
        return self.pinned_size if self.key_pinned else self.signed_size

    @property
    def unsigned_events(self) -> int:
        return self.events - self.covered_size

    @property
    def first_problem(self) -> Problem | None:
        return self.problems[0] if self.problems else None

    def cover_of(self, seq: int) -> Cover | None:
        """The first checkpoint that covers event ``seq`` (pinned ones only when pinned), or None."""
        for cover in self.covers:
            if cover.tree_size >= seq and (cover.pinned or not self.key_pinned):
                return cover
        return None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(ok=self.ok, unsigned_events=self.unsigned_events, covered_size=self.covered_size)
        data["problems"] = [asdict(p) for p in self.problems]
        return data

    def summary(self) -> str:
        if not self.ok:
            more = f" (+{len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
            return f"TAMPERED: {self.first_problem}{more}"
        head = (
            f"OK: {self.events} events ({self.projected} checked against their tables, {self.rows} rows against "
            f"their events), {self.blobs} blobs, root {self.root_hash[:16]}…"
        )
        if self.key_pinned:
            signed = f"signed up to seq {self.pinned_size}, verified against the pinned key ({self.pin_source})"
        elif self.checkpoints:
            signed = (
                f"UNPINNED: {self.checkpoints} checkpoints up to seq {self.signed_size} signed by key {self.key_id}, "
                "checked only against the key the database itself records, which whoever can write the database "
                "could replace: pin your key with `llm-audit trust add KEY.pub.pem` or pass --key"
            )
        else:
            signed = "UNPINNED: no checkpoint yet, nothing is signed (run `llm-audit checkpoint`)"
        if not self.key_pinned and self.unpinned_because:
            signed += f"; {self.unpinned_because}"
        tail = ""
        if self.unsigned_events > 0 and self.covered_size:
            tail = f"; {self.unsigned_events} newest events (seq {self.covered_size + 1}-{self.events}) not yet covered by a checkpoint"
        against = "".join(
            f"; extends the checkpoint saved in {a.path} (tree size {a.tree_size})" for a in self.against if a.ok
        )
        warning = f"; WARNING: {self.pin_warning}" if self.pin_warning else ""
        return f"{head}; {signed}{tail}{against}{warning} ({self.seconds:.2f} s)"


class _Report:
    def __init__(self, result: VerifyResult) -> None:
        self.result = result
        self.seen = 0

    def add(self, check: str, seq: int | None, what: str) -> None:
        self.seen += 1
        if len(self.result.problems) < MAX_PROBLEMS:
            self.result.problems.append(Problem(check, seq, what))


class _Keys:
    """Who may sign at each point of the log: its key (first signer, changed only by transitions) and the pinned ones."""

    def __init__(self, pins: Pins, report: _Report) -> None:
        self.report = report
        self.log_key: VerifyKey | None = None
        self.pinned_ids = set(pins.key_ids)
        self.seen_keys: dict[str, VerifyKey] = {k.key_id: k for k in pins.keys}

    def transition(self, seq: int, subject_id: str, payload_text: str, prev_leaf: str) -> None:
        """Check a key-transition event and, if valid, hand the log over to its new key."""
        try:
            p = json.loads(payload_text)
            old = VerifyKey.from_raw_hex(p["old_public_key"], "the old key")
            new = VerifyKey.from_raw_hex(p["new_public_key"], "the new key")
            message = transition_message(p["old_key_id"], p["new_public_key"], p["prev_leaf_hash"])
            problem = None
            if old.key_id != p["old_key_id"] or new.key_id != p["new_key_id"] or subject_id != new.key_id:
                problem = "its key ids do not match its public keys"
            elif self.log_key is not None and old.key_id != self.log_key.key_id:
                problem = f"it hands over from key {old.key_id}, but the log's key is {self.log_key.key_id}"
            elif p["prev_leaf_hash"] != prev_leaf:
                problem = "it names another position of the log than its own (copied from elsewhere)"
            elif not old.verify(p["old_signature"], message):
                problem = f"it is not signed by the key it retires ({old.key_id})"
            elif not new.verify(p["new_signature"], message):
                problem = f"it is not signed by the new key ({new.key_id})"
        except (KeyError, TypeError, ValueError, UserError) as exc:
            problem = f"it is malformed ({type(exc).__name__})"
        if problem is not None:
            self.report.add("checkpoint-key", seq, f"key-transition to {subject_id} is not valid: {problem}")
            return
        if old.key_id in self.pinned_ids:
            self.pinned_ids.add(new.key_id)  # a pinned key vouches for its successor
        self.seen_keys[old.key_id], self.seen_keys[new.key_id] = old, new
        self.log_key = new

    def check(self, cp: Checkpoint, root: bytes) -> Cover | None:
        """Report what is wrong with ``cp`` against the log's ``root`` at its size; its cover if valid."""
        report, before = self.report, self.report.seen
        label = f"checkpoint {cp.id} (tree size {cp.tree_size}, signed {cp.signed_at})"
        if root.hex() != cp.root_hash:
            report.add(
                "checkpoint-root",
                cp.tree_size,
                f"{label}: Merkle root of the log differs from the signed root (table checkpoints column root_hash): events at or before seq {cp.tree_size} were changed, inserted, removed or re-chained",
            )
        try:
            key = VerifyKey.from_raw_hex(cp.public_key, f"checkpoint {cp.id}")
        except UserError:
            report.add("checkpoint-signature", cp.tree_size, f"{label}: its public key is not an Ed25519 key")
            return None
        if key.key_id != cp.key_id:
            report.add(
                "checkpoint-signature", cp.tree_size, f"{label}: key id {cp.key_id} does not match its public key"
            )
        elif not key.verify(cp.signature, checkpoint_message(cp.tree_size, cp.root_hash, cp.signed_at)):
            report.add(
                "checkpoint-signature",
                cp.tree_size,
                f"{label}: Ed25519 signature (table checkpoints column signature) is not valid for its size, root and time",
            )
        elif self.log_key is None:
            self.log_key = key  # the log's first signer is its key until a transition says otherwise
        elif key.key_id != self.log_key.key_id:
            report.add(
                "checkpoint-key",
                cp.tree_size,
                f"{label}: signed by key {cp.key_id}, but the log's key at that point is {self.log_key.key_id} and no "
                f"key-transition signed by it hands over to {cp.key_id} (a checkpoint re-signed or added with a foreign key)",
            )
        if report.seen != before:
            return None
        self.seen_keys.setdefault(key.key_id, key)
        return Cover(int(cp.id or 0), cp.tree_size, cp.key_id, cp.signed_at, cp.key_id in self.pinned_ids)


class _EventSignatures:
    """Each event carries its writer's signature (since 0.3): once one does, every later one must, and each event
    no valid checkpoint covers must be signed by the log's key. Covered events were checked by the checkpoint's
    signer before it signed (``checkpoint`` refuses otherwise), so their signatures are not checked again."""

    def __init__(self, report: _Report) -> None:
        self.report = report
        self.seen_signed = False
        self.pending: list[tuple[ChainedEvent, str]] = []

    def add(self, event: ChainedEvent, signature: str | None) -> None:
        if signature is not None:
            self.seen_signed = True
            self.pending.append((event, signature))
        elif self.seen_signed:
            self.report.add(
                "event-signature",
                event.seq,
                f"{event.kind} {event.subject_id} carries no signature, but the events before it do: it was appended "
                "without the log's key (table events column signature)",
            )

    def covered(self, size: int) -> None:
        self.pending = [(e, s) for e, s in self.pending if e.seq > size]

    def check(self, key: VerifyKey | None) -> None:
        if key is None:
            return  # no checkpoint names the log's key yet: nothing to check them against (and nothing is covered)
        for event, signature in self.pending:
            if not key.verify(signature, event_message(event.leaf_hash)):
                self.report.add(
                    "event-signature",
                    event.seq,
                    f"{event.kind} {event.subject_id}: its signature (table events column signature) is not by the "
                    f"log's key {key.key_id}: it was forged or appended without the key",
                )
        self.pending = []


def _differs(logged_text: str, current: dict[str, Any]) -> str | None:
    """None when ``current`` is the logged content, else which fields differ."""
    logged = json.loads(logged_text)
    if logged == current or logged == jcs_safe(current):
        return None
    if not isinstance(logged, dict):
        return "values differ"
    keys = sorted(k for k in set(logged) | set(current) if logged.get(k) != current.get(k))
    paths = []
    for key in keys:  # one level down in an object member, so the column can be named (attention's blobs)
        inner, now = logged.get(key), current.get(key)
        if isinstance(inner, dict) and isinstance(now, dict):
            paths += [f"{key}.{k}" for k in sorted(set(inner) | set(now)) if inner.get(k) != now.get(k)]
        else:
            paths.append(key)
    return "fields differ: " + ", ".join(paths[:8]) if paths else "values differ"


def _references_blobs(repository: EvidenceRepository) -> bool:
    return type(repository).blob_digests is not EvidenceRepository.blob_digests


class _Evidence:
    """The both-ways check of every evidence table against the log."""

    def __init__(self, store: AuditStore, report: _Report) -> None:
        self.store = store
        self.report = report
        self.repositories = store.evidence
        self.logged: dict[str, dict[str, int]] = {kind: {} for kind in self.repositories}  # kind -> subject -> seq
        self.order: dict[str, list[str]] = {kind: [] for kind in self.repositories}
        self.erased = set()
        self.stored: set[str] = set()
        self.damaged: set[str] = set()
        for digest, data in store.blobs.iter_stored():
            self.stored.add(digest)
            if hashlib.sha256(data).hexdigest() != digest:
                self.damaged.add(digest)
        self.referenced: set[str] = set()
        self.named: dict[str, int] = {}
        self.streams: dict[str, Iterator[tuple[str, str]] | None] = {}
        self.projected = 0

    def outcome(self) -> _EvidenceOutcome:
        """Once every event was seen: the rows checked the other way, and what was found."""
        rows = self.rows()
        return _EvidenceOutcome(self.report.result.problems, self.report.seen, self.projected, rows, len(self.stored))

    def event(self, seq: int, kind: str, subject_id: str, payload: str) -> bool:
        """Check one event against its row; whether it was an evidence event."""
        if kind == "erasure":
            self.erased.add(subject_id)
        if self.damaged:
            for digest in self.damaged - self.named.keys():
                if digest in payload:
                    self.named[digest] = seq  # the first event that mentions a damaged blob, whatever its kind
        repository = self.repositories.get(kind)
        if repository is None:
            self._logged_json(seq, kind, subject_id, payload)
            return False
        seen = self.logged[kind]
        if subject_id in seen:
            self.report.add(
                "evidence-rows",
                seq,
                f"{kind} {subject_id} is logged twice (seq {seen[subject_id]} and {seq}): each row has exactly one event (an event forged for an existing row)",
            )
        else:
            seen[subject_id] = seq
            self.order[kind].append(subject_id)
        table = repository.table
        try:
            exact = self._text(kind, repository, subject_id) == payload
            if not exact and (
                self._logged_json(seq, kind, subject_id, payload) or self._stored_json(seq, table, subject_id)
            ):
                return True  # named: its text is not the one encoding of one value, so there is no one value to compare
            difference = None if exact else _differs(payload, repository.payload(subject_id))
        except (UserError, KeyError):
            erased = (
                " (its record was erased, but crypto-shredding keeps every row)"
                if self._erased(payload, subject_id)
                else ""
            )
            self.report.add(
                "tables",
                seq,
                f"{kind} {subject_id} has no row in table {table}: the row was deleted or its id column changed{erased}",
            )
            return True
        if difference is not None:
            for path, column in repository.columns_of_fields.items():
                difference = difference.replace(path, f"{path} (column {column})")
            self.report.add(
                "tables",
                seq,
                f"{kind} {subject_id}: row of table {table} differs from the logged payload ({difference})",
            )
        if kind == CHECKPOINT_KIND and json.loads(payload).get("tree_size") != seq:
            self.report.add(
                "tables",
                seq,
                f"checkpoint {subject_id} is logged at seq {seq} but signs tree size {json.loads(payload).get('tree_size')}: "
                "events were inserted or removed before it",
            )
        if _references_blobs(repository):
            digests = repository.blob_digests_text(payload) if exact else None
            self._blobs(
                seq, kind, subject_id, digests if digests is not None else repository.blob_digests(json.loads(payload))
            )
        return True

    def _logged_json(self, seq: int, kind: str, subject_id: str, payload: str) -> bool:
        """Name a logged payload that is not RFC 8785 text of one value (only a forged event can be); whether it was."""
        _value, problem = check_text(payload, "jcs")
        if problem is not None:
            self.report.add("stored-json", seq, f"{kind} {subject_id}: table events column payload {problem}")
        return problem is not None

    def _stored_json(self, seq: int, table: str, subject_id: str) -> bool:
        """Name every JSON column of the row that is not its one encoding (see :mod:`.columns`); whether any was."""
        found = False
        for problem in json_problems(self.store.db, table, subject_id):
            self.report.add(problem.check, seq, str(problem))
            found = True
        return found

    def _text(self, kind: str, repository: EvidenceRepository, subject_id: str) -> str | None:
        """The row's canonical payload text: from the table walked in step with the log, else looked up by id."""
        if kind not in self.streams:
            self.streams[kind] = repository.payload_texts()
        stream = self.streams[kind]
        if stream is not None:
            row = next(stream, None)
            if row is not None and row[0] == subject_id:
                return row[1]
            self.streams[kind] = None  # out of step (a row added, removed or moved): look each row up from now on
        return repository.payload_text(subject_id)

    def _erased(self, payload: str, subject_id: str) -> bool:
        if subject_id in self.erased:
            return True
        try:
            return json.loads(payload).get("record_id") in self.erased
        except (ValueError, AttributeError):
            return False

    def _blobs(self, seq: int, kind: str, subject_id: str, digests: Sequence[str]) -> None:
        for digest in digests:
            self.referenced.add(digest)
            if digest not in self.stored:
                self.report.add(
                    "blobs",
                    seq,
                    f"blob {digest[:16]}… referenced by {kind} {subject_id} is missing from table blobs (no row with that sha256)",
                )
            elif digest in self.damaged:
                self.report.add(
                    "blobs",
                    seq,
                    f"blob {digest[:16]}… referenced by {kind} {subject_id}: table blobs column data does not match its SHA-256 (column sha256)",
                )

    def rows(self) -> int:
        """Every row has its event, at its event's position; returns how many rows were checked."""
        checked = 0
        for kind, repository in self.repositories.items():
            table, logged = repository.table, self.logged[kind]
            position = {subject: n for n, subject in enumerate(self.order[kind], start=1)}
            placed = repository.positions()
            rows = placed if placed is not None else ((rid, None) for rid in repository.ids())
            misplaced = 0
            for row_id, rowid in rows:
                checked += 1
                if row_id not in logged:
                    self.report.add(
                        "evidence-rows",
                        None,
                        f"table {table} row {row_id} has no {kind} event in the log: it was added outside the log "
                        "(or its id column changed)",
                    )
                elif rowid is not None and rowid != position[row_id]:
                    misplaced += 1
                    if misplaced == 1:
                        self.report.add(
                            "evidence-order",
                            logged[row_id],
                            f"table {table} row {row_id} is at seq {rowid}, but its event is the {position[row_id]}th "
                            f"{kind} event of the log: the row's seq was changed or rows were moved",
                        )
        for table in [*(r.table for r in self.repositories.values()), "blobs"]:
            for problem in derived_problems(self.store.db, table):
                self.report.add(problem.check, None, str(problem))
        for digest in sorted(self.damaged - self.referenced):
            where = self.named.get(digest)
            self.report.add(
                "blobs",
                where,
                f"blob {digest[:16]}…: table blobs column data does not match its SHA-256 (column sha256)"
                + (f" (named by seq {where})" if where else ""),
            )
        return checked


@dataclass
class _EvidenceOutcome:
    problems: list[Problem]
    seen: int  # problems found, beyond those kept
    projected: int
    rows: int
    blobs: int


def _evidence_pass(store: AuditStore) -> _EvidenceOutcome:
    """Every evidence row against its event and back, every blob rehashed: one pass of its own over the log."""
    evidence = _Evidence(store, _Report(VerifyResult(database=str(store.path))))
    for event in store.events.iter_chain():
        evidence.projected += evidence.event(event.seq, event.kind, event.subject_id, event.payload)
    return evidence.outcome()


def _evidence_in_a_process(path: Path):
    """Start :func:`_evidence_pass` in a forked process (its own read-only connection); a callable that waits for it.

    The evidence pass and the chain pass each read the whole log; on two cores they run side by
    side. None where processes cannot be forked (then the caller runs the pass itself).
    """
    import multiprocessing

    try:
        context = multiprocessing.get_context("fork")
    except ValueError:
        return None
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_evidence_child, args=(path, send), daemon=True)
    process.start()
    send.close()

    def wait() -> _EvidenceOutcome:
        try:
            outcome = receive.recv()
        except EOFError:
            outcome = RuntimeError("the evidence check process ended without a result")
        process.join()
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    return wait


def _evidence_child(path: Path, send) -> None:
    try:
        with AuditStore.open(path) as store:
            send.send(_evidence_pass(store))
    except BaseException as exc:  # noqa: BLE001 - handed to the parent, which raises it
        send.send(exc if isinstance(exc, UserError | sqlite3.Error) else RuntimeError(f"{type(exc).__name__}: {exc}"))
    finally:
        send.close()


# A second process pays off only with a core to spare: below 20,000 events its start and second read of the log
# cost more than it saves, and on 2 shared cores it measured no faster (benchmarks/verify.py, one-process row).
PARALLEL_FROM_EVENTS = 20_000
PARALLEL_FROM_CORES = 4


def _against(
    notes: list[NoteCheckpoint], leaves: list[bytes], origin: str, keys: _Keys, pinned: bool, report: _Report
) -> list[AgainstResult]:
    """Prove with RFC 6962 consistency proofs that the log extends each saved checkpoint."""
    out: list[AgainstResult] = []
    tree = MerkleTree(leaves) if notes else None
    size = len(leaves)
    trusted = (
        [k for k in keys.seen_keys.values() if k.key_id in keys.pinned_ids] if pinned else list(keys.seen_keys.values())
    )
    for note in notes:
        result = AgainstResult(note.source, note.origin, note.tree_size, note.root.hex())
        out.append(result)
        signer = note.signed_by(trusted)
        result.key_id = signer.key_id if signer else None
        where = f"the checkpoint saved in {note.source} (tree size {note.tree_size})"
        if note.origin != origin:
            report.add(
                "consistency",
                None,
                f"{where} is of log {note.origin}, not of this log ({origin}): the database was replaced or rebuilt from scratch",
            )
            continue
        if signer is None:
            whose = "a pinned key" if pinned else "any key of this log"
            report.add("consistency", None, f"{where} is not signed by {whose}: it cannot vouch for anything")
            continue
        if note.tree_size > size:
            report.add(
                "consistency",
                size + 1,
                f"the log has {size} events, fewer than the {note.tree_size} of {where}: it was rolled back or truncated",
            )
            continue
        assert tree is not None
        proof = tree.consistency_proof(note.tree_size, size)
        result.proof_hashes = len(proof)
        if not verify_consistency(note.tree_size, size, note.root, tree.root(size), proof):
            report.add(
                "consistency",
                note.tree_size,
                f"the log does not extend {where}: events at or before seq {note.tree_size} were changed, removed or re-chained (RFC 6962 consistency proof fails)",
            )
            continue
        result.ok = True
    return out


def verify_store(
    store: AuditStore,
    pins: Pins | None = None,
    *,
    require_signed: bool = False,
    against: Sequence[Path] = (),
    parallel: bool | None = None,
) -> VerifyResult:
    """Verify ``store`` (see the module docstring); ``parallel``: check the evidence tables in a second process
    (default: for logs of 20,000 events or more, on a machine with four or more cores)."""
    started = time.perf_counter()
    pins = pins if pins is not None else Pins()
    result = VerifyResult(
        database=str(store.path),
        key_pinned=pins.pinned,
        pin_source=pins.source,
        pin_warning=pins.warning,
        unpinned_because=pins.unpinned_because,
        require_signed=require_signed,
    )
    report = _Report(result)
    if not store.events.exists():
        raise UserError(f"{store.path} has no event log yet: record something first with `llm-audit generate`")
    if not store.events.is_chained():
        raise UserError(
            f"{store.path} predates the hash chain: run `llm-audit checkpoint --db {store.path}` once to chain and sign it"
        )
    notes = [read_note(Path(p)) for p in against]
    checkpoints = store.checkpoints.all()
    result.checkpoints = len(checkpoints)
    keys = _Keys(pins, report)
    for earlier, later in zip(checkpoints, checkpoints[1:]):
        if later.tree_size < earlier.tree_size:
            report.add(
                "truncation",
                later.tree_size,
                f"checkpoint {later.id} covers fewer events ({later.tree_size}) than checkpoint {earlier.id} ({earlier.tree_size})",
            )
    pending = sorted(checkpoints, key=lambda c: (c.tree_size, c.id or 0))
    next_cp = 0
    while next_cp < len(pending) and pending[next_cp].tree_size == 0:
        keys.check(pending[next_cp], MerkleAccumulator().root())
        next_cp += 1

    if parallel is None:
        parallel = (os.cpu_count() or 1) >= PARALLEL_FROM_CORES and store.events.count() >= PARALLEL_FROM_EVENTS
    waiting = _evidence_in_a_process(store.path) if parallel and store.path.exists() else None
    evidence = None if waiting is not None else _Evidence(store, _Report(VerifyResult(database=str(store.path))))
    acc = MerkleAccumulator()
    leaves: list[bytes] = []
    prev_leaf = GENESIS.hex()
    expected = 1
    signatures = _EventSignatures(report)
    for event, signature in store.events.iter_chain_signed():
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
        if recompute_leaf(event, signature is not None) != event.leaf_hash:
            report.add(
                "leaf-hash", seq, f"{event.kind} {event.subject_id}: leaf_hash does not match the event's fields"
            )
        signatures.add(event, signature)
        if evidence is not None:  # in step with the chain (one pass), unless a second process does it
            evidence.projected += evidence.event(seq, event.kind, event.subject_id, event.payload)
        if event.kind == TRANSITION:
            signatures.check(keys.log_key)  # written with the key it retires
            keys.transition(seq, event.subject_id, event.payload, prev_leaf)
        leaf = bytes.fromhex(event.leaf_hash)
        acc.add(leaf)
        if notes:
            leaves.append(leaf)
        if seq == 1:
            result.origin = origin_of(event.leaf_hash)
        prev_leaf = event.leaf_hash
        while next_cp < len(pending) and pending[next_cp].tree_size == acc.size:
            cover = keys.check(pending[next_cp], acc.root())
            if cover is not None:
                result.covers.append(cover)
                signatures.covered(acc.size)  # the checkpoint's signer checked them before signing
            next_cp += 1
    signatures.check(keys.log_key)  # the events no checkpoint covers yet: each must be the log key's
    result.events = acc.size
    result.root_hash = acc.root().hex()
    for cp in pending[next_cp:]:
        report.add(
            "truncation",
            acc.size + 1,
            f"log truncated: checkpoint {cp.id} signed {cp.signed_at} covers {cp.tree_size} events, only {acc.size} remain",
        )
    outcome = waiting() if waiting is not None else evidence.outcome()  # type: ignore[union-attr]
    result.projected, result.rows, result.blobs = outcome.projected, outcome.rows, outcome.blobs
    report.seen += outcome.seen
    result.problems.extend(outcome.problems[: max(0, MAX_PROBLEMS - len(result.problems))])
    result.signed_size = max((c.tree_size for c in result.covers), default=0)
    result.pinned_size = max((c.tree_size for c in result.covers if c.pinned), default=0)
    result.key_id = keys.log_key.key_id if keys.log_key else None
    _check_pinning(result, pins, report)
    if require_signed and result.unsigned_events > 0:
        whose = "a pinned key" if pins.pinned else "the log's key"
        report.add(
            "unsigned",
            result.covered_size + 1,
            f"{result.unsigned_events} events (seq {result.covered_size + 1}-{result.events}) come after the last checkpoint "
            f"signed by {whose} and --require-signed was given: they are not covered by any signature",
        )
    result.against = _against(notes, leaves, result.origin, keys, pins.pinned, report)
    result.problems.sort(key=lambda p: (p.seq is None, p.seq or 0))
    result.seconds = time.perf_counter() - started
    return result


def pinned_signers(store: AuditStore, pins: Pins) -> set[str]:
    """The key ids a checkpoint may be signed by to count as pinned: the pinned keys and, through valid
    key-transition events, their successors (a pinned key vouches for the key it hands over to).

    For checks of one record that do not walk the whole log (the review workspace's record page);
    :func:`verify_store` applies the same rule in its single pass.
    """
    keys = _Keys(pins, _Report(VerifyResult(database=str(store.path))))
    for event in store.events.iter_chain(kind=TRANSITION):
        prev_leaf = store.events.at(event.seq - 1).leaf_hash if event.seq > 1 else GENESIS.hex()
        keys.transition(event.seq, event.subject_id, event.payload, prev_leaf)
    return keys.pinned_ids


def _check_pinning(result: VerifyResult, pins: Pins, report: _Report) -> None:
    if not pins.pinned or result.pinned_size:
        return
    pinned = ", ".join(sorted(pins.key_ids))
    if not result.checkpoints:
        report.add(
            "pinning",
            None,
            f"the log has no checkpoint at all, but verification is pinned to key {pinned} ({pins.source}): its checkpoints "
            "were removed (a new log is signed automatically within 10 events; `llm-audit checkpoint` signs now)",
        )
        return
    signers = ", ".join(sorted({c.key_id for c in result.covers})) or "no valid key"
    report.add(
        "pinning",
        None,
        f"no checkpoint of this log is signed by the pinned key {pinned} ({pins.source}); its checkpoints are signed by "
        f"{signers}: they were re-signed with another key or this is not the log you trust",
    )


def verify_database(
    path: Path,
    pins: Pins | None = None,
    *,
    require_signed: bool = False,
    against: Sequence[Path] = (),
    parallel: bool | None = None,
    trust_file: str | Path | None = None,
) -> VerifyResult:
    """Open ``path`` read-only and verify it (``pins``: default the trust file's pins of this log, found by its
    origin); a damaged file is a UserError (exit 2)."""
    try:
        with AuditStore.open(path) as store:
            if pins is None:
                pins = (
                    resolve_pins(Path(path), (), trust_file, log_identity(store)) if store.events.exists() else Pins()
                )
            return verify_store(store, pins, require_signed=require_signed, against=against, parallel=parallel)
    except sqlite3.DatabaseError as exc:
        if "full" in str(exc):
            raise UserError(f"{describe_write_error(exc, Path(path))}, then verify again") from None
        raise UserError(
            f"cannot read {path} ({exc}): the file is damaged or not an llm-audit database; restore it from a backup"
        ) from None


def verify_path(
    db_path: Path,
    key: str | Path | Sequence[str | Path] | None = None,
    *,
    trust_file: str | Path | None = None,
    require_signed: bool = False,
    against: Sequence[str | Path] = (),
) -> VerifyResult:
    """:func:`verify_database` pinned to the ``key`` file(s) when given, else to the trust file (what ``verify`` runs)."""
    files = [key] if isinstance(key, str | Path) else list(key or [])
    pins = resolve_pins(Path(db_path), [Path(k) for k in files]) if files else None
    return verify_database(
        Path(db_path), pins, require_signed=require_signed, against=[Path(a) for a in against], trust_file=trust_file
    )


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


__all__ = ["CHECKS", "CHECKPOINT_KIND", "AgainstResult", "Cover", "Problem", "VerifyResult", "verify_database"]
