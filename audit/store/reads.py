"""The Auditor's reads of stored evidence: records by filter, explanations and replays by id.

A part of the façade (:class:`audit.Auditor` inherits it), kept here so ``auditor.py`` stays a
short index; it needs the Auditor's ``db_path`` and its ``privacy`` guard (which opens sealed
content where the key is available).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from . import AuditStore

if TYPE_CHECKING:
    from ..attribution import AttributionResult
    from ..privacy.guard import PrivacyGuard
    from ..record import GenerationRecord
    from ..replay.result import ReplayResult


class ReadFacade:
    """Listing records and reading stored explanations and replays of the database at ``db_path``."""

    db_path: Path
    privacy: PrivacyGuard

    def list(
        self,
        *,
        use_case: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int | None = None,
    ) -> list[GenerationRecord]:
        """Recorded generations, oldest first (``since``/``until``: ISO dates or times, UTC)."""
        with AuditStore.open(self.db_path) as store:
            return list(store.records.iter(use_case=use_case, since=since, until=until, limit=limit))

    def explanations(
        self, record_id: str | None = None, *, method: str | None = None, granularity: str | None = None
    ) -> list[AttributionResult]:
        """Stored explanations (of one record), in the log's order."""
        with AuditStore.open(self.db_path) as store:
            rid = store.records.get(record_id).id if record_id else None
            found = store.explanations.list(rid, method=method, granularity=granularity)
        return [self.privacy.open_result(r) for r in found]

    def explanation(self, explanation_id: str) -> AttributionResult:
        """One stored explanation by id."""
        with AuditStore.open(self.db_path) as store:
            return self.privacy.open_result(store.explanations.get(explanation_id))

    def replays(self, replay_ids: list[str]) -> list[ReplayResult]:
        """Stored replays by id, in the given order."""
        with AuditStore.open(self.db_path) as store:
            return [store.replays.get(replay_id) for replay_id in replay_ids]
