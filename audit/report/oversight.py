"""Review statistics for the summary report: how much of a period a human has reviewed, and how.

Read from the evidence tables (sign-offs and findings), never from the workspace's derived index,
so the static summary (``llm-audit report``) and the live one in the workspace agree. The effective
sign-off of a record is its latest; the time to review is from the record to its *first* sign-off.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime


@dataclass
class Oversight:
    records: int
    reviewed: int
    share_reviewed: str
    overridden: int
    per_use_case: list[tuple[str, int, int, int, str]]  # (use case, records, reviewed, overridden, override rate)
    median_hours: str  # record to first sign-off
    p90_hours: str
    open_findings: int


def _time(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def _hours(values: list[float], q: float) -> str:
    if not values:
        return "—"
    values = sorted(values)
    if q == 0.5:
        value = statistics.median(values)
    else:
        value = values[min(len(values) - 1, int(q * len(values)))]
    return f"{value:.1f} h" if value >= 1 else f"{value * 60:.0f} min"


def build_oversight(rows: list[tuple[str, str, str | None, str | None, int]]) -> Oversight:
    """``rows``: per record (use case, started_at, effective action or None, first sign-off, open findings)."""
    by_case: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    waits: list[float] = []
    open_findings = 0
    for case, started, action, first, findings in rows:
        counts = by_case[case]
        counts[0] += 1
        open_findings += findings
        if action is not None:
            counts[1] += 1
            counts[2] += action == "override"
            if first:
                waits.append(max(0.0, (_time(first) - _time(started)).total_seconds() / 3600))
    share = lambda n, of: f"{n / of:.0%}" if of else "—"  # noqa: E731
    total = sum(c[0] for c in by_case.values())
    reviewed = sum(c[1] for c in by_case.values())
    overridden = sum(c[2] for c in by_case.values())
    return Oversight(
        total,
        reviewed,
        share(reviewed, total),
        overridden,
        [(case, n, r, o, share(o, r)) for case, (n, r, o) in sorted(by_case.items())],
        _hours(waits, 0.5),
        _hours(waits, 0.9),
        open_findings,
    )
