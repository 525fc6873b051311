"""Privacy facts in the store: sealed records by subject, erasure tombstones, legal holds and releases.

No table of its own: a record's privacy facts live in its (logged) ``tags.privacy``, and
erasures, holds and releases are events in the hash-chained log, the one place an auditor
already trusts. This repository logs those events and finds them again.
"""

from __future__ import annotations

import json
from typing import Any

import sqlite_utils

from .events import EventLog

ERASURE, HOLD, RELEASE = "erasure", "hold", "release"


class PrivacyRepository:
    def __init__(self, db: sqlite_utils.Database, events: EventLog) -> None:
        self.db = db
        self.events = events

    def sealed(self, subject: str | None = None) -> list[dict[str, Any]]:
        """``{id, started_at, use_case, privacy}`` of every sealed record (of one subject), oldest first."""
        if not self.db["generations"].exists():
            return []
        sql = (
            "SELECT id, started_at, use_case, json_extract(tags, '$.privacy') AS privacy FROM generations "
            "WHERE json_extract(tags, '$.privacy.sealed') = 1"
        )
        params: list[Any] = []
        if subject is not None:
            sql += " AND json_extract(tags, '$.privacy.subject') = ?"
            params.append(subject)
        rows = self.db.execute(sql + " ORDER BY seq", params).fetchall()
        return [{"id": r[0], "started_at": r[1], "use_case": r[2], "privacy": json.loads(r[3])} for r in rows]

    def append_erasure(self, record_id: str, payload: dict[str, Any]) -> int:
        """Log the tombstone of ``record_id``'s erasure (call inside the transaction that destroys its key)."""
        return self.events.append(ERASURE, record_id, payload)

    def append_hold(self, target: str, payload: dict[str, Any], *, release: bool = False) -> int:
        """Log a legal hold (or, with ``release``, its release) on ``target`` (a record id or subject reference)."""
        return self.events.append(RELEASE if release else HOLD, target, payload)

    def erasures(self) -> dict[str, dict[str, Any]]:
        """record id -> the payload of its erasure tombstone."""
        return {e.subject_id: e.payload for e in self.events.iter(kind=ERASURE)} if self.events.exists() else {}

    def erasure(self, record_id: str) -> dict[str, Any] | None:
        if not self.events.exists():
            return None
        found = list(self.events.iter(subject_id=record_id, kind=ERASURE))
        return found[-1].payload if found else None

    def hold_events(self) -> list[tuple[str, dict[str, Any]]]:
        """(kind, payload) of every hold and release, in log order."""
        if not self.events.exists():
            return []
        found = [*self.events.iter(kind=HOLD), *self.events.iter(kind=RELEASE)]
        return [(e.kind, e.payload) for e in sorted(found, key=lambda e: e.seq)]
