"""The ``assignments`` table: which reviewer a record is given to, for the queue's "mine" filter.

Who was asked to look at a decision is part of the oversight record (and a reviewer's worklist),
so it is an append-only row with a hash-chained ``assignment`` event, like a sign-off. A record's
*current* assignee is that of its latest assignment in the chain's order; an assignment with no
assignee (``assignee`` NULL) gives the record back to the team.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .append_only import append_only
from .evidence import EvidenceRepository
from .schema import register

TABLE = "assignments"

register(
    "assignments",
    1,
    "records assigned to a reviewer (or given back), append-only",
    f"""CREATE TABLE {TABLE} (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        record_id TEXT NOT NULL REFERENCES generations (id),
        assignee TEXT,
        assigned_by TEXT NOT NULL,
        role TEXT NOT NULL,
        via TEXT NOT NULL,
        created_at TEXT NOT NULL
    )""",
    f"CREATE INDEX idx_{TABLE}_record ON {TABLE} (record_id, seq)",
    *append_only(TABLE),
)


@dataclass
class Assignment:
    """One assignment as stored and logged (the event's payload is exactly these fields)."""

    id: str
    record_id: str
    assignee: str | None  # None: given back to the team
    assigned_by: str
    role: str  # the assigning user's role at the time
    via: str  # "web" | "api" | "cli"
    created_at: str

    def payload(self) -> dict[str, Any]:
        return asdict(self)


_COLUMNS = tuple(Assignment.__dataclass_fields__)


class AssignmentRepository(EvidenceRepository):
    """Append and read assignments: the ``assignments`` table and its ``assignment`` events."""

    kind = "assignment"
    table = TABLE

    def append(self, assignment: Assignment) -> int:
        """Store ``assignment`` and log it in one transaction; returns the event's seq."""
        return self._append_row(assignment.id, assignment.payload(), assignment.payload())

    def payload(self, subject_id: str) -> dict[str, Any]:
        if not self.exists():
            raise KeyError(subject_id)
        rows = list(self.db.query(f"SELECT {', '.join(_COLUMNS)} FROM {TABLE} WHERE id = ?", [subject_id]))
        if not rows:
            raise KeyError(subject_id)
        return Assignment(**rows[0]).payload()

    def of_record(self, record_id: str) -> list[Assignment]:
        """Every assignment of ``record_id`` in the log's order: the last one is current."""
        rows = self._chain_ordered("t.record_id = ?", [record_id])
        return [Assignment(**{c: row[c] for c in _COLUMNS}) for row in rows]

    def current(self, record_id: str) -> str | None:
        """Who ``record_id`` is assigned to now (None: nobody)."""
        found = self.of_record(record_id)
        return found[-1].assignee if found else None
