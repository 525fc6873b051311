"""The workspace's trends page: the monitoring charts over a chosen period, window and segment.

The same view model as the summary report's section 7 (:mod:`audit.report.trends`), over twelve
windows by default (a week each: the last twelve weeks), compared with the first; each point links to
the records list filtered to its use case and window.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

from ..monitor.run import MonitorRequest, monitor
from ..monitor.windows import window_length
from ..report.trends import Trends, build_trends
from ..store import AuditStore

POINTS = 12


def records_link(use_case: str, since: str, until: str) -> str:
    """The records list filtered to one use case and window: where a chart's point leads."""
    return "/records?" + urlencode({"use_case": use_case, "since": since[:19] + "Z", "until": until[:19] + "Z"})


def trends_page(
    db_path: Path,
    *,
    use_case: str | None = None,
    window: str = "7d",
    since: str | None = None,
    until: str | None = None,
    segment: str | None = None,
    now: datetime | None = None,
) -> Trends:
    """Bad input (an unknown window, a field no record has, an empty period) is the monitor's one-line refusal."""
    length = window_length(window)
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    if since is None:
        end = datetime.fromisoformat(until.replace("Z", "+00:00")) if until else (now or datetime.now(UTC))
        if end.tzinfo is None:
            end = end.replace(tzinfo=UTC)
        since = (end - POINTS * length).strftime(stamp)
    start = datetime.fromisoformat(since.replace("Z", "+00:00"))
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    request = MonitorRequest(
        window=window,
        since=since,
        until=until,
        reference=f"{start.strftime(stamp)}..{(start + length).strftime(stamp)}",
        use_case=use_case,
        segments=[segment] if segment else [],
        now=now,
    )
    with AuditStore.open(db_path) as store:
        report = monitor(store, request)
    return build_trends(report, window, records_link, segments=True)
