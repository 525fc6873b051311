"""UTC timestamps in one format everywhere: ISO 8601 with microseconds and a ``Z``."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_iso(epoch: float | None = None) -> str:
    moment = datetime.now(UTC) if epoch is None else datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
