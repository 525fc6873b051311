"""The ``findings`` table: what a reviewer or validator found wrong with a record, and its resolution.

A finding (severity, area such as conceptual soundness or data, free text) is evidence of the
oversight process, so it is an append-only row with a hash-chained ``finding`` event. Resolving
a finding never edits it: the resolution is another row whose ``resolves`` names the finding,
so "open findings" are the findings no later row resolves.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .append_only import append_only
from .evidence import EvidenceRepository
from .schema import register

TABLE = "findings"

register(
    "findings",
    1,
    "findings on records and their resolutions, append-only",
    f"""CREATE TABLE {TABLE} (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        record_id TEXT NOT NULL REFERENCES generations (id),
        author TEXT NOT NULL,
        role TEXT NOT NULL,
        severity TEXT,
        area TEXT,
        text TEXT NOT NULL,
        resolves TEXT,
        via TEXT NOT NULL,
        created_at TEXT NOT NULL
    )""",
    f"CREATE INDEX idx_{TABLE}_record ON {TABLE} (record_id, seq)",
    f"CREATE INDEX idx_{TABLE}_resolves ON {TABLE} (resolves)",
    *append_only(TABLE),
)


@dataclass
class Finding:
    """A finding (``resolves`` is None) or the resolution of one (``resolves`` = its id; no severity/area)."""

    id: str
    record_id: str
    author: str
    role: str
    severity: str | None  # "low" | "medium" | "high" | "critical"
    area: str | None  # "conceptual-soundness" | "data" | "outcome" | "implementation" | "monitoring" | "other"
    text: str
    resolves: str | None
    via: str
    created_at: str

    def payload(self) -> dict[str, Any]:
        return asdict(self)


_COLUMNS = tuple(Finding.__dataclass_fields__)


class FindingRepository(EvidenceRepository):
    """Append and read findings: the ``findings`` table and its ``finding`` events."""

    kind = "finding"
    table = TABLE

    def append(self, finding: Finding) -> int:
        """Store ``finding`` (or a resolution) and log it in one transaction; returns the event's seq."""
        return self._append_row(finding.id, finding.payload(), finding.payload())

    def payload(self, subject_id: str) -> dict[str, Any]:
        finding = self.get(subject_id)
        if finding is None:
            raise KeyError(subject_id)
        return finding.payload()

    def get(self, finding_id: str) -> Finding | None:
        if not self.exists():
            return None
        rows = list(self.db.query(f"SELECT {', '.join(_COLUMNS)} FROM {TABLE} WHERE id = ?", [finding_id]))
        return Finding(**rows[0]) if rows else None

    def of_record(self, record_id: str) -> list[Finding]:
        """Findings and resolutions of ``record_id`` in the log's order."""
        return [Finding(**{c: row[c] for c in _COLUMNS}) for row in self._chain_ordered("t.record_id = ?", [record_id])]

    def open_count(self, record_ids: list[str] | None = None) -> int:
        """How many findings (of these records) no resolution closes."""
        if not self.exists():
            return 0
        sql = (
            f"SELECT COUNT(*) FROM {TABLE} f WHERE f.resolves IS NULL "
            f"AND NOT EXISTS (SELECT 1 FROM {TABLE} r WHERE r.resolves = f.id)"
        )
        if record_ids is None:
            return int(self.db.execute(sql).fetchone()[0])
        total = 0
        for start in range(0, len(record_ids), 500):
            chunk = record_ids[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            total += int(self.db.execute(sql + f" AND f.record_id IN ({marks})", chunk).fetchone()[0])
        return total
