"""The ``provenance`` table: where each merged record came from.

One row per subject (a generation, explanation or replay) that ``llm-audit merge`` copied
into an archive: the source host, the source file, the subject's position in the source's
hash chain, the SHA-256 of its payload there, the Merkle root of the source log that was
verified just before the copy, and (since v2) what vouched for the subject there: the key id
of the trusted checkpoint that covered it, or ``unsigned (--allow-unsigned)``. Each row is
logged as a ``provenance`` event, so the archive's own chain covers where its content came from.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from .append_only import append_only
from .evidence import EvidenceRepository
from .schema import register

TABLE = "provenance"

register(
    "provenance",
    1,
    "provenance of merged records (source host, chain position, verified root)",
    f"""CREATE TABLE {TABLE} (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        subject_kind TEXT NOT NULL,
        subject_id TEXT NOT NULL,
        source_host TEXT NOT NULL,
        source_path TEXT NOT NULL,
        source_seq INTEGER NOT NULL,
        source_payload_sha256 TEXT NOT NULL,
        source_events INTEGER NOT NULL,
        source_root_hash TEXT NOT NULL,
        merged_at TEXT NOT NULL,
        UNIQUE (subject_kind, subject_id)
    )""",
    f"CREATE INDEX idx_{TABLE}_host ON {TABLE} (source_host)",
    *append_only(TABLE),
)
register(
    "provenance",
    2,
    "what vouched for each merged subject in its source (trusted key or --allow-unsigned)",
    f"ALTER TABLE {TABLE} ADD COLUMN source_key_id TEXT",
    f"ALTER TABLE {TABLE} ADD COLUMN source_trust TEXT",
)


@dataclass
class Provenance:
    id: str
    subject_kind: str  # "generation" | "explanation" | "replay"
    subject_id: str
    source_host: str
    source_path: str
    source_seq: int  # the subject's event seq in the source's chain
    source_payload_sha256: str  # its payload hash there (equal to the archive event's)
    source_events: int  # size of the source log that was verified
    source_root_hash: str  # Merkle root of those events
    merged_at: str
    source_key_id: str | None = None  # the trusted key whose checkpoint covered the subject (None: unsigned)
    source_trust: str | None = None  # in words; None only in rows merged before v2

    def to_dict(self) -> dict[str, Any]:
        """The logged payload (the v2 fields only when set, so rows merged before v2 still match their events)."""
        data = asdict(self)
        if data["source_trust"] is None:
            data.pop("source_key_id")
            data.pop("source_trust")
        return data


_COLUMNS = tuple(Provenance.__dataclass_fields__)


class ProvenanceRepository(EvidenceRepository):
    """Append and read provenance rows: the ``provenance`` table and its ``provenance`` events."""

    kind = "provenance"
    table = TABLE

    def append(self, row: Provenance) -> int:
        """Store ``row`` and log it (the payload is the row itself); returns the event's seq."""
        data = row.to_dict()
        return self._append_row(row.id, {c: data.get(c) for c in _COLUMNS}, data)

    def payload(self, subject_id: str) -> dict[str, Any]:
        row = self.get(subject_id)
        if row is None:
            raise KeyError(subject_id)
        return row.to_dict()

    def _columns(self) -> str:
        """The columns this file has: one read before its v2 migration (opened read-only) lacks the newer two."""
        present = self.db[TABLE].columns_dict
        return ", ".join(c for c in _COLUMNS if c in present)

    def get(self, provenance_id: str) -> Provenance | None:
        if not self.exists():
            return None
        rows = list(self.db.query(f"SELECT {self._columns()} FROM {TABLE} WHERE id = ?", [provenance_id]))
        return Provenance(**rows[0]) if rows else None

    def of(self, subject_id: str) -> Provenance | None:
        """Where ``subject_id`` (a record, explanation or replay id) was merged from, if it was."""
        if not self.exists():
            return None
        rows = list(self.db.query(f"SELECT {self._columns()} FROM {TABLE} WHERE subject_id = ?", [subject_id]))
        return Provenance(**rows[0]) if rows else None

    def iter(self, *, source_host: str | None = None) -> Iterator[Provenance]:
        if not self.exists():
            return iter(())
        where, params = (" WHERE source_host = ?", [source_host]) if source_host else ("", [])
        return (
            Provenance(**row)
            for row in self.db.query(f"SELECT {self._columns()} FROM {TABLE}{where} ORDER BY seq", params)
        )
