"""Evidence kept as one JSON document per row: counterfactual and protected-attribute results.

These results are read whole (a dossier section, a summary section), never queried by their
inside, so a row is its id, the record it is about (if one), its time and the whole result as
JSON; the logged payload is the same document, so verification compares it as it compares any
other evidence row. Each table is append-only by trigger.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, ClassVar

from ..ids import assign_identity
from .append_only import append_only
from .evidence import EvidenceRepository
from .schema import register


def register_documents(table: str, about_record: bool) -> None:
    """The migrations of one document table (version 1: the table, its index, its append-only guard)."""
    record = "record_id TEXT NOT NULL REFERENCES generations (id)," if about_record else "record_id TEXT,"
    register(
        table,
        1,
        f"{table} table (one JSON document per row), append-only",
        f"""CREATE TABLE {table} (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            {record}
            created_at TEXT NOT NULL,
            body TEXT NOT NULL
        )""",
        f"CREATE INDEX idx_{table}_record ON {table} (record_id, seq)",
        *append_only(table),
    )


class DocumentRepository(EvidenceRepository):
    """Append and read results that serialise themselves (``to_dict``/``from_dict``)."""

    result_type: ClassVar[Any]

    def append(self, result: Any) -> int:
        """Store ``result`` with its event (one transaction); sets ``result.seq``, returns the event's seq."""
        assign_identity(result)
        payload = result.to_dict()
        row = {
            "id": result.id,
            "record_id": getattr(result, "record_id", None),
            "created_at": result.created_at,
            "body": json.dumps(
                payload, ensure_ascii=False
            ),  # key order kept (fields in the order given); the log hashes its RFC 8785 form
        }

        def insert() -> None:
            result.seq = self._insert(row)

        return self._append(result.id, insert, payload)

    def payload(self, subject_id: str) -> dict[str, Any]:
        rows = list(self.db.query(f"SELECT body FROM {self.table} WHERE id = ?", [subject_id])) if self.exists() else []
        if not rows:
            raise KeyError(subject_id)
        return json.loads(rows[0]["body"])

    def _result(self, row: dict[str, Any]) -> Any:
        result = self.result_type.from_dict(json.loads(row["body"]))
        result.seq = row["seq"]
        return result

    def get(self, result_id: str) -> Any | None:
        if not self.exists():
            return None
        rows = list(self.db.query(f"SELECT * FROM {self.table} WHERE id = ?", [result_id]))
        return self._result(rows[0]) if rows else None

    def latest(self, record_id: str | None = None) -> Any | None:
        """The newest result (about ``record_id``) in the log's order, or None."""
        where, params = ("t.record_id = ?", [record_id]) if record_id is not None else ("", [])
        rows = list(self._chain_ordered(where, params, newest_first=True, limit=1))
        return self._result(rows[0]) if rows else None

    def iter(self, record_id: str | None = None) -> Iterator[Any]:
        """Results in the log's order (about one record, or all)."""
        where, params = ("t.record_id = ?", [record_id]) if record_id is not None else ("", [])
        return (self._result(row) for row in self._chain_ordered(where, params))
