"""The monitoring section's view model: one line chart per use case and metric, as SVG geometry.

Each chart plots a metric per window (favourable-label rate, mean margin, mean label mass, override
rate, replay divergence rate), with the reference window's value as a band (for a rate: the range a
window of the reference's size would fall in 95 % of the time with no change, p ± 1.96 √(p(1-p)/n);
for a mean, the reference's own value as a line) and the windows where the change against the
reference is significant (:mod:`audit.monitor.compare`) or an alert rule fired drawn as firing
points. Each point links to the records behind it where the page can (the workspace's records list).
Numbers only: the template draws the polyline from them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..monitor.compare import metric_value, rate_counts
from ..monitor.run import MonitorReport, MonitorRequest, monitor
from ..monitor.tally import GroupStats
from ..monitor.windows import WINDOWS
from ..store import AuditStore
from .charts import Tick

WIDTH, HEIGHT = 320.0, 150.0
LEFT, RIGHT, TOP, BOTTOM = 40.0, WIDTH - 12.0, 10.0, HEIGHT - 30.0


@dataclass
class Point:
    x: float
    y: float
    title: str  # the window, the value and its sample size
    href: str | None
    firing: bool


@dataclass
class LineChart:
    title: str
    width: float
    height: float
    plot_left: float
    plot_right: float
    plot_top: float
    plot_bottom: float
    points: list[Point]
    polyline: str  # "x,y x,y ..." of the windows that have a value
    band: tuple[float, float] | None  # (y top, y bottom) of the reference band
    reference_y: float | None
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    y_title: str
    empty: bool


@dataclass
class UseCaseTrends:
    use_case: str
    charts: list[LineChart]


@dataclass
class Trends:
    window: str
    reference: str  # in words
    use_cases: list[UseCaseTrends] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)  # significant changes in words, newest window first
    alerts: list[str] = field(default_factory=list)
    tests: str = ""


_METRICS = (  # (metric, title, is a rate)
    ("decision_rate", "favourable rate", True),
    ("margin", "mean margin (log-odds)", False),
    ("label_mass", "mean label mass", False),
    ("override_rate", "override rate", True),
    ("replay_divergence", "replay divergence rate", True),
)


def _chart(
    title: str,
    rate: bool,
    values: list[tuple[str, float | None, int, bool, str | None]],
    reference: tuple[float, int] | None,
) -> LineChart:
    """``values``: per window (label, value, n, firing, href); ``reference``: (value, n)."""
    known = [v for _, v, _, _, _ in values if v is not None] + ([reference[0]] if reference else [])
    empty = not known
    if rate or title.startswith("mean label mass"):
        lo, hi = 0.0, 1.0  # a probability: the whole axis, so a small wobble looks small
    else:
        lo, hi = min(known, default=0.0), max(known, default=1.0)
        pad = max((hi - lo) * 0.1, 0.25)
        lo, hi = lo - pad, hi + pad
    y = lambda v: round(BOTTOM - (BOTTOM - TOP) * (v - lo) / (hi - lo), 2)  # noqa: E731
    step = (RIGHT - LEFT) / max(len(values) - 1, 1)
    points = []
    for i, (label, value, n, firing, href) in enumerate(values):
        if value is None:
            continue
        shown = f"{value:.0%}" if rate else f"{value:.3f}"
        x = round(LEFT + (i * step if len(values) > 1 else (RIGHT - LEFT) / 2), 2)
        points.append(
            Point(x, y(value), f"{label}: {shown} (n {n}){' - significant change' if firing else ''}", href, firing)
        )
    band = ref_y = None
    if reference is not None:
        value, n = reference
        ref_y = y(value)
        if rate and n:
            half = 1.96 * math.sqrt(value * (1 - value) / n)
            band = (y(min(1.0, value + half)), y(max(0.0, value - half)))
    every = max(1, math.ceil(len(values) / 6))
    x_ticks = [
        Tick(round(LEFT + (i * step if len(values) > 1 else (RIGHT - LEFT) / 2), 2), values[i][0][5:10])
        for i in range(0, len(values), every)
    ]
    y_ticks = [
        Tick(y(lo + (hi - lo) * k / 4), f"{lo + (hi - lo) * k / 4:.0%}" if rate else f"{lo + (hi - lo) * k / 4:.2f}")
        for k in range(5)
    ]
    return LineChart(
        title, WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM, points, " ".join(f"{p.x},{p.y}" for p in points),
        band, ref_y, x_ticks, y_ticks, title, empty,
    )  # fmt: skip


def build_trends(
    report: MonitorReport, window: str, link: Callable[[str, str, str], str | None], *, segments: bool = False
) -> Trends:
    """``link(use_case, since, until)``: the href of a window's records, or None where the page has none;
    ``segments``: also each segment's favourable rate (the workspace's trends page)."""
    fired = {(a.rule.get("use_case"), a.window["since"]) for a in report.alerts}
    ref_groups = {g.use_case: g for g in report.reference_groups if g.segment == "all"}
    cases = sorted({g.use_case for w in report.windows for g in w.groups})
    ref = report.reference
    words = f"baseline {ref['baseline']}" if "baseline" in ref else f"{ref['since'][:10]} to {ref['until'][:10]}"
    trends = Trends(window, words, tests=f"Holm-adjusted p under {report.alpha:g}; PSI above {report.psi_max:g}")
    for case in cases:
        charts = []
        for metric, title, rate in _METRICS:
            rows = []
            for w in report.windows:
                g = next((g for g in w.groups if g.use_case == case and g.segment == "all"), None)
                key = g.favourable if g is not None and metric == "decision_rate" else None
                value = metric_value(g, metric, key) if g is not None and g.n else None
                significant = any(
                    c.use_case == case and c.segment == "all" and c.metric == metric and c.significant
                    for c in w.changes
                )
                firing = significant or (case, w.window.since) in fired
                n = _size(g, metric, key) if g is not None else 0
                rows.append(
                    (
                        w.window.label,
                        value,
                        n,
                        firing,
                        link(case, w.window.since, w.window.until) if value is not None else None,
                    )
                )
            if all(v is None for _, v, _, _, _ in rows):
                continue
            r = ref_groups.get(case)
            rkey = r.favourable if r is not None and metric == "decision_rate" else None
            rvalue = metric_value(r, metric, rkey) if r is not None and r.n else None
            reference = (rvalue, _size(r, metric, rkey)) if rvalue is not None else None
            label = (
                f"{title} ({rkey or next((g.favourable for w in report.windows for g in w.groups if g.use_case == case and g.favourable), '')})"
                if metric == "decision_rate"
                else title
            )
            charts.append(_chart(label, rate, rows, reference))
        if segments:
            charts += _segment_charts(report, case, link)
        trends.use_cases.append(UseCaseTrends(case, charts))
    for w in reversed(report.windows):
        trends.changes += [f"{w.window.label}: {c.text}" for c in w.changes if c.significant]
    trends.alerts = [f"[{a.severity}] {a.text}" for a in report.alerts]
    return trends


def _segment_charts(report: MonitorReport, case: str, link: Callable[[str, str, str], str | None]) -> list[LineChart]:
    """Each segment's favourable rate per window (its own reference band); points link to the use case's records."""
    names = [g.segment for g in report.windows[0].groups if g.use_case == case and g.segment != "all"]
    ref = {g.segment: g for g in report.reference_groups if g.use_case == case}
    charts = []
    for name in names:
        rows = []
        for w in report.windows:
            g = next(g for g in w.groups if g.use_case == case and g.segment == name)
            value = g.rate(g.favourable) if g.n and g.favourable else None
            firing = any(
                c.use_case == case and c.segment == name and c.metric == "decision_rate" and c.significant
                for c in w.changes
            )
            href = link(case, w.window.since, w.window.until) if value is not None else None
            rows.append((w.window.label, value, g.n, firing, href))
        r = ref.get(name)
        reference = (r.rate(r.favourable), r.n) if r is not None and r.n and r.favourable else None
        if any(v is not None for _, v, _, _, _ in rows):
            favourable = next(
                (g.favourable for w in report.windows for g in w.groups if g.segment == name and g.favourable), ""
            )
            charts.append(_chart(f"favourable rate ({favourable}), {name}", True, rows, reference))
    return charts


def _size(g: GroupStats, metric: str, key: str | None) -> int:
    if metric in ("margin", "label_mass"):
        return g.n
    counts = rate_counts(g, metric, key)
    return counts[1] if counts else 0


def trends_of(
    store: AuditStore,
    use_case: str | None,
    since: str | None,
    until: str | None,
    link: Callable[[str, str, str], str | None],
    now: datetime | None = None,
) -> Trends | None:
    """The summary's monitoring section over its own period (None: no decided record in it).

    Windows of a day for a period of up to two weeks, of a week up to half a year, of 30 days beyond;
    the reference is the period's first window, so each later window is compared with how it began.
    """
    found = store.monitoring.decision_period(since, until, use_case)
    if found is None:
        return None
    first, last = (datetime.fromisoformat(t.replace("Z", "+00:00")) for t in found)
    start = first.replace(hour=0, minute=0, second=0, microsecond=0)
    end = last.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    window = "1d" if end - start <= timedelta(days=14) else "7d" if end - start <= timedelta(days=182) else "30d"
    length = WINDOWS[window]
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    request = MonitorRequest(
        window=window,
        since=start.strftime(stamp),
        until=end.strftime(stamp),
        reference=f"{start.strftime(stamp)}..{(start + length).strftime(stamp)}",
        use_case=use_case,
        now=now,
    )
    return build_trends(monitor(store, request), window, link)
