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

import sqlite_utils

from ..replay_result import Divergence, ReplayResult
from .events import register_projection
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


class ReplayRepository:
    """Insert and read replays; knows the ``replays`` table and nothing else."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    def exists(self) -> bool:
        return self.db[TABLE].exists()

    def insert(self, result: ReplayResult) -> int:
        row = _to_row(result)
        columns = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        cursor = self.db.execute(f"INSERT INTO {TABLE} ({columns}) VALUES ({marks})", list(row.values()))
        return int(cursor.lastrowid)

    def get(self, replay_id: str) -> ReplayResult | None:
        if not self.exists():
            return None
        rows = list(self.db.query(f"SELECT * FROM {TABLE} WHERE id = ?", [replay_id]))
        return _from_row(rows[0]) if rows else None

    def latest(self, record_id: str) -> ReplayResult | None:
        """The most recent replay of ``record_id`` (what a report shows), or None."""
        if not self.exists():
            return None
        rows = list(self.db.query(f"SELECT * FROM {TABLE} WHERE record_id = ? ORDER BY seq DESC LIMIT 1", [record_id]))
        return _from_row(rows[0]) if rows else None

    def iter(self, record_id: str | None = None) -> Iterator[ReplayResult]:
        """Replays oldest first, optionally of one record."""
        if not self.exists():
            return iter(())
        where, params = (" WHERE record_id = ?", [record_id]) if record_id is not None else ("", [])
        return (_from_row(row) for row in self.db.query(f"SELECT * FROM {TABLE}{where} ORDER BY seq", params))


def _project(db: sqlite_utils.Database, replay_id: str) -> dict[str, Any]:
    result = ReplayRepository(db).get(replay_id)
    if result is None:
        raise KeyError(replay_id)
    return replay_payload(result)


register_projection("replay", _project)
