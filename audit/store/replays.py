"""The ``replays`` table: one row per replay of a recorded generation, append-only.

A replay is its own fact about a record (who reproduced what, when, on which stack), so
it is a new row linked to the generation, never an edit of it. Rows are found by record
(latest verdict for reports) and the logged event's subject is the replay's own id, so
each event's projection is unambiguous even when a record is replayed many times.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

from ..replay.result import Divergence, ReplayResult
from .append_only import append_only
from .evidence import EvidenceRepository, assign_identity
from .schema import register

TABLE = "replays"
_JSON_COLUMNS = (
    "model_match",
    "environment_diff",
    "first_divergence",
    "replayed_output_ids",
    "replayed_token_logprobs",
    "extra",
)

register(
    "replays",
    1,
    "replays table",
    f"""CREATE TABLE {TABLE} (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        record_id TEXT NOT NULL REFERENCES generations (id),
        created_at TEXT NOT NULL,
        verdict TEXT NOT NULL,
        model_matches INTEGER NOT NULL,
        allow_model_mismatch INTEGER NOT NULL,
        tolerance REAL NOT NULL,
        max_logprob_diff REAL,
        seconds REAL NOT NULL,
        model_match TEXT NOT NULL,
        environment_diff TEXT NOT NULL,
        first_divergence TEXT,
        replayed_output_ids TEXT NOT NULL,
        replayed_token_logprobs TEXT NOT NULL,
        extra TEXT NOT NULL
    )""",
    f"CREATE INDEX idx_{TABLE}_record ON {TABLE} (record_id, seq)",
)
register("replays", 2, "append-only guard on replays", *append_only(TABLE))


def replay_payload(result: ReplayResult) -> dict[str, Any]:
    """The logged content of a replay event: the whole result except its store position."""
    payload = asdict(result)
    payload.pop("seq")
    return payload


def _to_row(result: ReplayResult) -> dict[str, Any]:
    row = replay_payload(result)
    for column in _JSON_COLUMNS:
        row[column] = json.dumps(row[column], ensure_ascii=False, allow_nan=True) if row[column] is not None else None
    row["model_matches"] = int(result.model_matches)
    row["allow_model_mismatch"] = int(result.allow_model_mismatch)
    return row


def _from_row(row: dict[str, Any]) -> ReplayResult:
    data = dict(row)
    for column in _JSON_COLUMNS:
        data[column] = json.loads(data[column]) if data[column] is not None else None
    data["model_matches"] = bool(data["model_matches"])
    data["allow_model_mismatch"] = bool(data["allow_model_mismatch"])
    if data["first_divergence"] is not None:
        data["first_divergence"] = Divergence(**data["first_divergence"])
    return ReplayResult(**data)


class ReplayRepository(EvidenceRepository):
    """Append and read replays: the ``replays`` table and its ``replay`` events."""

    kind = "replay"
    table = TABLE

    def append(self, result: ReplayResult) -> int:
        """Store ``result`` and log its event; sets ``result.seq`` (its row) and returns the event's seq."""
        assign_identity(result)
        return self._append(result.id, lambda: self._insert_row(result), replay_payload(result))

    def _insert_row(self, result: ReplayResult) -> None:
        result.seq = self._insert(_to_row(result))

    def payload(self, subject_id: str) -> dict[str, Any]:
        result = self.get(subject_id)
        if result is None:
            raise KeyError(subject_id)
        return replay_payload(result)

    def get(self, replay_id: str) -> ReplayResult | None:
        if not self.exists():
            return None
        rows = list(self.db.query(f"SELECT * FROM {TABLE} WHERE id = ?", [replay_id]))
        return _from_row(rows[0]) if rows else None

    def latest(self, record_id: str) -> ReplayResult | None:
        """The most recent replay of ``record_id`` in the log's order (what a report shows), or None."""
        rows = list(self._chain_ordered("t.record_id = ?", [record_id], newest_first=True, limit=1))
        return _from_row(rows[0]) if rows else None

    def iter(self, record_id: str | None = None) -> Iterator[ReplayResult]:
        """Replays in the log's order, optionally of one record."""
        where, params = ("t.record_id = ?", [record_id]) if record_id is not None else ("", [])
        return (_from_row(row) for row in self._chain_ordered(where, params))
