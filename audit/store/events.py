"""The event log: one row per thing that happened to the audit record, in order.

Every component appends an event in the same transaction as its own row (a generation,
an explanation, an attention computation, a replay, a report issued, a sign-off), with a
payload that is the full content it stored (arrays by their blob SHA-256). Each kind also
registers a *projection*: how to rebuild that payload from its own tables, so integrity
verification can compare what the tables say now with what was logged then.

The tamper-evident chain (hashes, Merkle tree, signed checkpoints) builds on this table.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import sqlite_utils

from ..clock import utc_iso
from .schema import register

TABLE = "events"

register(
    "events",
    1,
    "event log",
    f"""CREATE TABLE {TABLE} (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        subject_id TEXT NOT NULL,
        created_at TEXT NOT NULL,
        payload TEXT NOT NULL
    )""",
    f"CREATE INDEX idx_{TABLE}_subject ON {TABLE} (subject_id, kind)",
)

Projection = Callable[[sqlite_utils.Database, str], dict[str, Any]]
_PROJECTIONS: dict[str, Projection] = {}


def register_projection(kind: str, projection: Projection) -> None:
    """Declare how to rebuild the payload of ``kind`` events from the component's tables."""
    _PROJECTIONS[kind] = projection


def projection_for(kind: str) -> Projection | None:
    return _PROJECTIONS.get(kind)


@dataclass
class Event:
    seq: int
    kind: str
    subject_id: str
    created_at: str
    payload: dict[str, Any]


class EventLog:
    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    def append(self, kind: str, subject_id: str, payload: dict[str, Any]) -> int:
        """Append one event; call inside the transaction that stores the subject."""
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        cursor = self.db.execute(
            f"INSERT INTO {TABLE} (kind, subject_id, created_at, payload) VALUES (?, ?, ?, ?)",
            [kind, subject_id, utc_iso(), text],
        )
        return int(cursor.lastrowid)

    def iter(self, *, subject_id: str | None = None, kind: str | None = None) -> Iterator[Event]:
        if not self.db[TABLE].exists():
            return iter(())
        clauses, params = [], []
        if subject_id is not None:
            clauses.append("subject_id = ?")
            params.append(subject_id)
        if kind is not None:
            clauses.append("kind = ?")
            params.append(kind)
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        rows = self.db.execute(f"SELECT seq, kind, subject_id, created_at, payload FROM {TABLE}{where} ORDER BY seq", params)
        return (Event(seq, k, s, c, json.loads(p)) for seq, k, s, c, p in rows)
