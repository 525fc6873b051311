"""Privacy facts in the store: sealed records by subject, erasure tombstones, legal holds and releases.

No table of its own: a record's privacy facts live in its (logged) ``tags.privacy``, and
erasures, holds and releases are events in the hash-chained log, the one place an auditor
already trusts. This repository logs those events and finds them again.
"""

from __future__ import annotations

from typing import Any

import sqlite_utils

from ..integrity.canonical_check import read_json
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
        # Read through the one reader, never json_extract: a duplicate key would read one way here and another in
        # verify (a duplicate "sealed" or "retain_until" must not decide what is erased or held).
        rows = self.db.execute("SELECT id, started_at, use_case, tags FROM generations ORDER BY seq").fetchall()
        out = []
        for record_id, started_at, use_case, tags in rows:
            privacy = (read_json(tags, f"generations.tags of record {record_id}") or {}).get("privacy")
            if not isinstance(privacy, dict) or privacy.get("sealed") is not True:
                continue
            if subject is None or privacy.get("subject") == subject:
                out.append({"id": record_id, "started_at": started_at, "use_case": use_case, "privacy": privacy})
        return out

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
