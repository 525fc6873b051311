"""The ``reviews`` table: human sign-offs of a record (accept the model's output, or override it).

A sign-off is evidence a supervisor asks for (EU AI Act Art. 14, PRA SS1/23 Principle 5), so it
is a row of its own and a hash-chained ``review`` event, both written in one transaction and
checked by ``verify`` like every evidence table. Rows are never changed: a second sign-off of
the same record is a new row, and the *effective* one is the latest in the chain's order. Each
row names the hash of the generation event the reviewer saw (``record_sha256``), so a sign-off
cannot be silently moved to other content.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from .append_only import append_only
from .evidence import EvidenceRepository
from .schema import register

TABLE = "reviews"
ACCEPT, OVERRIDE = "accept", "override"

register(
    "reviews",
    1,
    "human sign-offs (accept or override), append-only",
    f"""CREATE TABLE {TABLE} (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        record_id TEXT NOT NULL REFERENCES generations (id),
        record_sha256 TEXT NOT NULL,
        reviewer TEXT NOT NULL,
        role TEXT NOT NULL,
        action TEXT NOT NULL CHECK (action IN ('accept', 'override')),
        decision TEXT,
        rationale TEXT NOT NULL,
        via TEXT NOT NULL,
        created_at TEXT NOT NULL
    )""",
    f"CREATE INDEX idx_{TABLE}_record ON {TABLE} (record_id, seq)",
    *append_only(TABLE),
)


@dataclass
class SignOff:
    """One sign-off as stored and logged (the event's payload is exactly these fields)."""

    id: str
    record_id: str
    record_sha256: str  # payload_sha256 of the record's generation event: what was reviewed
    reviewer: str
    role: str  # the reviewer's role when signing
    action: str  # "accept" | "override"
    decision: str | None  # the reviewer's own decision, for an override
    rationale: str  # required for an override
    via: str  # "web" | "api" | "cli"
    created_at: str

    def payload(self) -> dict[str, Any]:
        return asdict(self)


_COLUMNS = tuple(SignOff.__dataclass_fields__)


class ReviewRepository(EvidenceRepository):
    """Append and read sign-offs: the ``reviews`` table and its ``review`` events."""

    kind = "review"
    table = TABLE

    def append(self, review: SignOff) -> int:
        """Store ``review`` and log it in one transaction; returns the event's seq."""
        return self._append_row(review.id, review.payload(), review.payload())

    def payload(self, subject_id: str) -> dict[str, Any]:
        review = self.get(subject_id)
        if review is None:
            raise KeyError(subject_id)
        return review.payload()

    def get(self, review_id: str) -> SignOff | None:
        if not self.exists():
            return None
        rows = list(self.db.query(f"SELECT {', '.join(_COLUMNS)} FROM {TABLE} WHERE id = ?", [review_id]))
        return SignOff(**rows[0]) if rows else None

    def of_record(self, record_id: str) -> list[SignOff]:
        """Every sign-off of ``record_id`` in the log's order: the last one is effective."""
        return [SignOff(**{c: row[c] for c in _COLUMNS}) for row in self._chain_ordered("t.record_id = ?", [record_id])]

    def iter(self) -> Iterator[SignOff]:
        return (SignOff(**{c: row[c] for c in _COLUMNS}) for row in self._chain_ordered())

    def oversight(
        self, use_case: str | None, since: str | None, until: str | None
    ) -> list[tuple[str, str, str | None, str | None, int]]:
        """Per record of a period: (use case, started_at, effective action or None, first sign-off time,
        open findings). The effective action is the latest sign-off in the chain's order."""
        clauses, params = [], []
        for sql, value in (("g.use_case = ?", use_case), ("g.started_at >= ?", since), ("g.started_at < ?", until)):
            if value:
                clauses.append(sql)
                params.append(value)
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        reviewed: dict[str, tuple[str, str]] = {}
        if self.exists():
            for record_id, action, at in self.db.execute(
                f"SELECT t.record_id, t.action, t.created_at FROM {TABLE} t "
                "JOIN events e ON e.subject_id = t.id AND e.kind = 'review' ORDER BY e.seq"
            ):
                first = reviewed.get(record_id, (action, at))[1]
                reviewed[record_id] = (action, min(first, at))
        open_by_record: dict[str, int] = {}
        if self.db["findings"].exists():
            for record_id, n in self.db.execute(
                "SELECT f.record_id, COUNT(*) FROM findings f WHERE f.resolves IS NULL "
                "AND NOT EXISTS (SELECT 1 FROM findings r WHERE r.resolves = f.id) GROUP BY f.record_id"
            ):
                open_by_record[record_id] = int(n)
        rows = []
        for record_id, case, started in self.db.execute(
            f"SELECT g.id, g.use_case, g.started_at FROM generations g{where}", params
        ):
            action, first = reviewed.get(record_id, (None, None))
            rows.append((case, started, action, first, open_by_record.get(record_id, 0)))
        return rows
