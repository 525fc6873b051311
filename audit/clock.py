"""UTC timestamps in one format everywhere (ISO 8601 with microseconds and a ``Z``), and user times read into it."""

from __future__ import annotations

from datetime import UTC, datetime

from .errors import UserError


def utc_iso(epoch: float | None = None) -> str:
    moment = datetime.now(UTC) if epoch is None else datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def normalise_time(value: str | None, what: str, *, store_format: bool = False) -> str | None:
    """An ISO 8601 date or date-time as UTC ``YYYY-MM-DDTHH:MM:SSZ`` (naive means UTC).

    ``store_format`` keeps microseconds, the format records are stored in, so a filter
    compares as text exactly like the time it names.
    """
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UserError(
            f"{what} {value!r} is not an ISO 8601 date or time: write e.g. 2026-03-01 or 2026-03-01T09:30:00Z"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ" if store_format else "%Y-%m-%dT%H:%M:%SZ")
