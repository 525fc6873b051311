"""Evidence packs handed out: one ``export`` event per pack, the only write an export makes.

No table: the event is the record. Its payload names who exported what (the selection), against
which checkpoint, and the SHA-256 of the pack's signed manifest, so a pack shown later can be matched
to the log, and a pack the log does not know of was not made by this log's owner.
"""

from __future__ import annotations

from typing import Any

from .events import EventLog

KIND = "export"


class ExportLog:
    def __init__(self, events: EventLog) -> None:
        self.events = events

    def append(self, pack_id: str, payload: dict[str, Any]) -> int:
        """Log that pack ``pack_id`` was exported (``payload``: exporter, selection, checkpoint, manifest SHA-256)."""
        return self.events.append(KIND, pack_id, payload)

    def of_pack(self, pack_id: str) -> dict[str, Any] | None:
        found = list(self.events.iter(subject_id=pack_id, kind=KIND)) if self.events.exists() else []
        return found[-1].payload if found else None
