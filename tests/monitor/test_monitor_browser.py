"""The workspace's trends page in a real browser (Playwright on Debian's Chromium): charts drawn as inline SVG
with no script and no request leaving the page, each point's title the window's rate counted independently
from the records, a segment's chart, and a click on a point opening the records list of that window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from audit import Auditor
from audit.report.pdf import OFFLINE_FLAGS, find_browser
from audit.review.roles import Principal
from audit.ui.app import create_app
from audit.web.background import BackgroundServer
from tests import monitor_records as synth

pytestmark = pytest.mark.skipif(find_browser() is None, reason="Chromium is not installed (apt-get install chromium)")
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    db = tmp_path_factory.mktemp("trends-ui") / "audit.db"
    reference, current = synth.build(db, seed=3, n=150, before=0.62, after=0.2, others_after=0.2)
    auditor = Auditor(db=db)
    auditor.reviews.accounts.add(Principal("root", "admin", "cli"), "vera", "viewer", PASSWORD)
    with BackgroundServer(create_app(auditor.reviews)) as server:
        yield server.url, reference + current


def test_the_trends_page_charts_each_window_and_a_point_opens_its_records(site):
    from playwright.sync_api import sync_playwright

    url, records = site
    flags = [f for f in OFFLINE_FLAGS if f != "--headless"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=find_browser(), args=flags, timeout=60_000)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(30_000)
        page = context.new_page()
        outside = []
        page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(url) else None)
        page.goto(f"{url}/login")
        page.fill("input[name=name]", "vera")
        page.fill("input[name=password]", PASSWORD)
        page.click("button:has-text('Log in')")
        page.wait_for_url(f"{url}/queue")
        page.goto(f"{url}/trends?window=7d&since=2026-11-01&until=2026-11-15&segment=income:40000")
        charts = page.locator("svg.trend")
        labels = [charts.nth(i).get_attribute("aria-label") for i in range(charts.count())]
        assert labels == [
            "favourable rate (APPROVE)",
            "mean margin (log-odds)",
            "mean label mass",
            "favourable rate (APPROVE), income < 40,000",
            "favourable rate (APPROVE), income ≥ 40,000",
        ]
        points = charts.nth(0).locator("circle")
        titles = [points.nth(i).locator("title").text_content() for i in range(points.count())]
        start = datetime(2026, 11, 1, tzinfo=UTC)
        for k, title in enumerate(titles):
            lo = (start + timedelta(days=7 * k)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            hi = (start + timedelta(days=7 * (k + 1))).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            mine = [r for r in records if lo <= r.started_at < hi]
            rate = sum(r.decision.chosen == "APPROVE" for r in mine) / len(mine)
            assert title.startswith(f"{lo[:10]} to {hi[:10]}: {rate:.0%} (n {len(mine)})")
        assert charts.nth(0).locator("circle.fire").count() == 1  # the second week, against the first
        assert page.evaluate("document.scripts.length") == 0
        charts.nth(0).locator("a").nth(1).click()
        page.wait_for_url(f"{url}/records?*")
        assert "since=2026-11-08" in page.url and "use_case=credit-decision" in page.url
        assert "150" in page.locator("body").inner_text()  # the week's records, as the list counts them
        assert outside == []
        browser.close()
