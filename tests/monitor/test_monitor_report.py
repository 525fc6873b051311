"""The summary report's monitoring section: one chart per metric, its points the windows' figures counted
independently from the records, firing points exactly where the change is significant, no script."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from audit import Auditor
from audit.monitor.run import MonitorRequest, monitor
from audit.report.trends import build_trends
from audit.store import AuditStore
from tests import monitor_records as synth


@pytest.fixture(scope="module")
def collapsed(tmp_path_factory):
    """300 records a week; in the second week approval falls to 20% for every income."""
    path = tmp_path_factory.mktemp("trends") / "collapsed.db"
    reference, current = synth.build(path, seed=3, n=300, before=0.62, after=0.2, others_after=0.2)
    return path, reference + current


def test_summary_section_charts_the_windows_with_their_counted_values(collapsed, tmp_path):
    path, records = collapsed
    out = Auditor(db=path).report(None, tmp_path / "summary.html")
    html = out.path.read_text()
    section = html[html.index('id="monitoring"') :]
    assert "<script" not in html
    charts = re.findall(r'<svg class="chart trend".*?</svg>', section, flags=re.S)
    assert [re.search(r'aria-label="([^"]+)"', c)[1] for c in charts] == [
        "favourable rate (APPROVE)",
        "mean margin (log-odds)",
        "mean label mass",
    ]
    titles = re.findall(r"<circle class=\"(pt|fire)\"[^>]*><title>([^<]+)</title>", charts[0])
    assert len(titles) == 14  # a day each, Nov 1 to Nov 14
    day = datetime(2026, 11, 1, tzinfo=UTC)
    for k, (cls, title) in enumerate(titles):
        lo = (day + timedelta(days=k)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        hi = (day + timedelta(days=k + 1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        mine = [r for r in records if lo <= r.started_at < hi]
        rate = sum(r.decision.chosen == "APPROVE" for r in mine) / len(mine)
        assert title.startswith(f"{lo[:10]} to {hi[:10]}: {rate:.0%} (n {len(mine)})")
        assert (cls == "fire") == title.endswith("significant change")
    firing = [k for k, (cls, _) in enumerate(titles) if cls == "fire"]
    assert firing and min(firing) >= 7  # only the second week's days, where the rate collapsed
    assert "favourable rate" in section and "No significant change" not in section


def test_points_link_to_the_window_records_where_the_page_has_them(collapsed):
    path, _ = collapsed
    with AuditStore.open(path) as store:
        report = monitor(
            store,
            MonitorRequest(window="7d", since="2026-11-01", until="2026-11-15", reference="2026-11-01..2026-11-08"),
        )
    trends = build_trends(report, "7d", lambda case, since, until: f"/records?use_case={case}&since={since}")
    (case,) = trends.use_cases
    hrefs = [p.href for p in case.charts[0].points]
    assert hrefs == [f"/records?use_case=credit-decision&since={w.window.since}" for w in report.windows]
    assert [p.firing for p in case.charts[0].points] == [False, True]
