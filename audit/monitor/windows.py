"""The periods monitoring compares: a series of equal windows, and the reference window they are compared with.

``--window 7d`` alone is the last seven days up to ``--until`` (default: now); with ``--since`` the
period from ``--since`` to ``--until`` is cut into consecutive windows of that length (the last one
may be shorter, and says so by its dates). The reference is ``--reference SINCE..UNTIL``, or by
default the window of the same length just before the first one: "this week against last week".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ..clock import normalise_time
from ..errors import UserError

WINDOWS = {"1d": timedelta(days=1), "7d": timedelta(days=7), "30d": timedelta(days=30)}
MAX_WINDOWS = 400
_STORE = "%Y-%m-%dT%H:%M:%S.%fZ"


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    @property
    def since(self) -> str:
        """The start as stored times are written (records started at or after it are in)."""
        return self.start.strftime(_STORE)

    @property
    def until(self) -> str:
        """The end as stored times are written (records started before it are in)."""
        return self.end.strftime(_STORE)

    @property
    def label(self) -> str:
        whole_days = self.start.time() == self.end.time() == datetime.min.time()
        fmt = "%Y-%m-%d" if whole_days else "%Y-%m-%d %H:%M"
        return f"{self.start.strftime(fmt)} to {self.end.strftime(fmt)}"

    def to_dict(self) -> dict[str, str]:
        return {"since": self.since, "until": self.until}


def window_length(name: str) -> timedelta:
    if name not in WINDOWS:
        raise UserError(f"unknown window {name!r}: use one of {', '.join(WINDOWS)}")
    return WINDOWS[name]


def _moment(value: str, what: str) -> datetime:
    text = normalise_time(value, what, store_format=True)
    return datetime.strptime(text, _STORE).replace(tzinfo=UTC)


def parse_range(value: str, what: str) -> Window:
    """``SINCE..UNTIL`` (ISO dates or times, UTC when naive) as a window; refused when empty or backwards."""
    since, sep, until = value.partition("..")
    if not sep or not since.strip() or not until.strip():
        raise UserError(f"{what} {value!r} is not a range: write SINCE..UNTIL, e.g. 2026-11-01..2026-11-08")
    window = Window(_moment(since, what), _moment(until, what))
    if window.end <= window.start:
        raise UserError(f"{what} {value!r} ends before it starts: write the earlier time first")
    return window


def plan(
    window: str, since: str | None, until: str | None, reference: str | None, now: datetime | None = None
) -> tuple[list[Window], Window | None]:
    """The windows to report, oldest first, and the reference window (None: ``reference`` is a baseline file)."""
    length = window_length(window)
    end = _moment(until, "--until") if until else (now or datetime.now(UTC))
    start = _moment(since, "--since") if since else end - length
    if start >= end:
        raise UserError("--since is not before --until: the period to monitor is empty")
    if (end - start) / length > MAX_WINDOWS:
        raise UserError(f"more than {MAX_WINDOWS} windows of {window} between --since and --until: use a longer window")
    windows = []
    at = start
    while at < end:
        windows.append(Window(at, min(at + length, end)))
        at += length
    ref = parse_range(reference, "--reference") if reference else Window(start - length, start)
    return windows, ref
