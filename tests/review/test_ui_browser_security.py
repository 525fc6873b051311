"""A link to the workspace from another site (an e-mail, a ticket) keeps the user logged in, in a real browser.

Chromium (Debian's, through Playwright) logs in on ``127.0.0.1``, then opens a page of another site
(``localhost``, a different site to a browser) and follows its link to a record: under a
``SameSite=Strict`` session cookie the browser would not send it, and the user would land on the
login form; under ``Lax`` the record opens, and a state change from that site still needs the CSRF token.
"""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from audit import Auditor
from audit.report.pdf import OFFLINE_FLAGS, find_browser
from audit.review.roles import Principal
from audit.store import AuditStore
from audit.ui.app import create_app
from audit.web.background import BackgroundServer
from tests.conftest import one_torch_thread

pytestmark = pytest.mark.skipif(
    find_browser() is None, reason="Chromium is not installed (apt-get install -y chromium); .ci/run installs it"
)
PASSWORD = "correct horse battery"


def test_a_link_from_another_site_opens_the_record_logged_in(tiny_loaded, tmp_path):
    from playwright.sync_api import sync_playwright

    auditor = Auditor(db=tmp_path / "audit.db", model=tiny_loaded, operator="ops")
    with one_torch_thread():
        record = auditor.generate(prompt="Summarise: rates rose.", max_new_tokens=3, use_case="news")
    auditor.reviews.accounts.add(Principal("root", "admin", "cli"), "rita", "reviewer", PASSWORD)
    with BackgroundServer(create_app(auditor.reviews)) as workspace:
        target = f"{workspace.url}/records/{record.id}"

        def ticket(request):
            return HTMLResponse(
                f'<p>Ticket 42: please review <a id="go" href="{target}">this record</a>.</p>'
                f'<form method="post" action="{target}/reviews"><input name="action" value="accept">'
                '<button id="forge">sign</button></form>'
            )

        other = Starlette(routes=[Route("/", ticket)])
        with BackgroundServer(other) as tracker:
            ticket_url = f"http://localhost:{tracker.port}/"  # another site than 127.0.0.1
            flags = [f for f in OFFLINE_FLAGS if f != "--headless"]
            with sync_playwright() as p:
                chromium = p.chromium.launch(executable_path=find_browser(), args=flags, timeout=60_000)
                try:
                    page = chromium.new_context().new_page()
                    page.set_default_timeout(30_000)
                    page.goto(f"{workspace.url}/login")
                    page.fill("input[name=name]", "rita")
                    page.fill("input[name=password]", PASSWORD)
                    page.click("button:has-text('Log in')")
                    page.wait_for_url(f"{workspace.url}/queue")
                    page.goto(ticket_url)
                    page.click("#go")
                    page.wait_for_load_state()
                    assert page.url == target, page.url  # not the login form
                    assert "rita" in page.locator(".who").inner_text()
                    page.goto(ticket_url)  # a cross-site POST: no cookie under Lax, and no CSRF token anyway
                    page.click("#forge")
                    page.wait_for_load_state()
                    assert page.url.startswith(f"{workspace.url}/login") or "CSRF" in page.content()
                    page.goto(f"{workspace.url}/queue")
                    assert page.url == f"{workspace.url}/queue"  # still logged in: nothing deleted the session
                finally:
                    chromium.close()
    with AuditStore.open(auditor.db_path) as store:
        assert store.reviews.of_record(record.id) == []  # the forged sign-off stored nothing
