"""The ``reports`` table: which report was issued, over which records, with which SHA-256.

A report handed to a regulator is itself evidence: logging its hash lets anyone later
check that the file in front of them is the one the system produced.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from .append_only import append_only
from .evidence import EvidenceRepository
from .schema import register

TABLE = "reports"

register(
    "reports",
    1,
    "issued reports",
    f"""CREATE TABLE {TABLE} (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        generated_at TEXT NOT NULL,
        record_ids TEXT NOT NULL,
        filters TEXT NOT NULL,
        size_bytes INTEGER NOT NULL
    )""",
    f"CREATE INDEX idx_{TABLE}_sha256 ON {TABLE} (sha256)",
)
register("reports", 2, "append-only guard on reports", *append_only(TABLE))


@dataclass
class IssuedReport:
    id: str
    kind: str  # "dossier" | "summary"
    sha256: str  # of the HTML file's bytes
    generated_at: str
    record_ids: list[str]
    filters: dict[str, Any]
    size_bytes: int

    def payload(self) -> dict[str, Any]:
        return asdict(self)


class ReportRepository(EvidenceRepository):
    """Append and read issued reports: the ``reports`` table and its ``report`` events."""

    kind = "report"
    table = TABLE

    def append(self, report: IssuedReport) -> int:
        """Store that ``report`` was issued and log it; returns the event's seq."""
        row = {
            **report.payload(),
            "record_ids": json.dumps(report.record_ids),
            "filters": json.dumps(report.filters, sort_keys=True),
        }
        return self._append_row(report.id, row, report.payload())

    def payload(self, subject_id: str) -> dict[str, Any]:
        report = self.get(subject_id)
        if report is None:
            raise KeyError(subject_id)
        return report.payload()

    def _rows(self, where: str, params: list[Any]) -> list[IssuedReport]:
        if not self.exists():
            return []
        rows = self.db.execute(
            f"SELECT id, kind, sha256, generated_at, record_ids, filters, size_bytes FROM {TABLE}{where} ORDER BY rowid",
            params,
        )
        return [IssuedReport(i, k, s, g, json.loads(r), json.loads(f), int(n)) for i, k, s, g, r, f, n in rows]

    def get(self, report_id: str) -> IssuedReport | None:
        found = self._rows(" WHERE id = ?", [report_id])
        return found[0] if found else None

    def by_sha256(self, sha256: str) -> list[IssuedReport]:
        return self._rows(" WHERE sha256 = ?", [sha256])

    def all(self) -> list[IssuedReport]:
        return self._rows("", [])
