"""Evidence both ways: every event against its row (and the blobs it names), then every row against its event.

For every evidence kind (``AuditStore.evidence``: generations, explanations, attention maps,
replays, reports, provenance, checkpoints and whatever a later component registers) the row
still holds the logged payload and every blob it references is stored intact; then, the other way
round, every row of every evidence table has exactly one event, at the position of its event.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import UserError
from ..store import AuditStore, EvidenceRepository
from ..store.checkpoints import KIND as CHECKPOINT_KIND
from .canonical import jcs_safe
from .canonical_check import check_text
from .columns import derived_problems, json_problems
from .results import Problem, ProblemLog, VerifyResult


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


class EvidenceCheck:
    """The both-ways check of every evidence table against the log."""

    def __init__(self, store: AuditStore, report: ProblemLog) -> None:
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

    def outcome(self) -> EvidenceOutcome:
        """Once every event was seen: the rows checked the other way, and what was found."""
        rows = self.rows()
        return EvidenceOutcome(self.report.result.problems, self.report.seen, self.projected, rows, len(self.stored))

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
class EvidenceOutcome:
    """What the evidence check found: plain values, so it can cross the pipe from a second process."""

    problems: list[Problem]
    seen: int  # problems found, beyond those kept
    projected: int
    rows: int
    blobs: int


def evidence_pass(store: AuditStore) -> EvidenceOutcome:
    """Every evidence row against its event and back, every blob rehashed: one pass of its own over the log."""
    evidence = EvidenceCheck(store, ProblemLog(VerifyResult(database=str(store.path))))
    for event in store.events.iter_chain():
        evidence.projected += evidence.event(event.seq, event.kind, event.subject_id, event.payload)
    return evidence.outcome()
