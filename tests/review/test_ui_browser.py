"""The workspace in a real browser: Playwright driving Debian's Chromium (no browser download).

A reviewer logs in, opens the queue and a record, overrides it with a rationale, sees the sign-off
in section 9 and the record leave the queue, and logs out; a viewer sees no sign-off control and a
hand-made POST is refused; a prompt carrying a script payload renders as inert text and no request
leaves the page. Chromium runs with the background services off, so any request it makes is the page's.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from audit import Auditor
from audit.report.pdf import OFFLINE_FLAGS, find_browser
from audit.review.roles import Principal
from audit.ui.app import create_app
from audit.web.background import BackgroundServer
from tests.conftest import one_torch_thread

pytestmark = pytest.mark.skipif(
    find_browser() is None, reason="Chromium is not installed (apt-get install -y chromium); .ci/run installs it"
)

PASSWORD = "correct horse battery"
PAYLOAD = (
    "<script>document.documentElement.setAttribute('data-pwned','1');fetch('http://127.0.0.1:9/leak')</script>"
    '<img src="http://127.0.0.1:9/x.png" onerror="document.title=\'pwned\'">'
)


@pytest.fixture(scope="module")
def site(tiny_loaded, tmp_path_factory):
    db = tmp_path_factory.mktemp("ui-browser") / "audit.db"
    auditor = Auditor(db=db, model=tiny_loaded, operator="ops")
    with one_torch_thread():
        credit = auditor.generate(
            template="Income {income}, score {score}. Approve?",
            variables={"income": "42000", "score": "580"},
            max_new_tokens=3,
            use_case="credit-decision",
        )
        hostile = auditor.generate(prompt=PAYLOAD, max_new_tokens=3, use_case="news")
    cli = Principal("root", "admin", "cli")
    auditor.reviews.accounts.add(cli, "rita", "reviewer", PASSWORD)
    auditor.reviews.accounts.add(cli, "vera", "viewer", PASSWORD)
    with BackgroundServer(create_app(auditor.reviews)) as server:
        yield server.url, db, credit.id, hostile.id


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    flags = [f for f in OFFLINE_FLAGS if f != "--headless"]
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=find_browser(), args=flags, timeout=60_000)
        yield chromium
        chromium.close()


def log_in(browser, url: str, name: str):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.goto(f"{url}/queue")
    assert page.url.startswith(f"{url}/login?next=")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Log in')")
    page.wait_for_url(f"{url}/queue")
    return context, page


def test_a_reviewer_overrides_a_record_sees_it_in_section_9_and_it_leaves_the_queue(site, browser):
    url, _, credit, _ = site
    context, page = log_in(browser, url, "rita")
    assert page.locator("h1").inner_text().startswith("Review queue")
    row = page.locator(f"a[href='/records/{credit}']")
    assert row.count() == 1
    row.click()
    page.wait_for_url(f"{url}/records/{credit}")
    assert page.locator(".recordbar").inner_text().count("no sign-off yet") == 1
    page.check("input[name=action][value=override]")
    page.fill("input[name=decision]", "DECLINE")
    page.fill("textarea[name=rationale]", "Income is not verified; policy 4.2 requires payslips.")
    page.click("button:has-text('Sign off')")
    page.wait_for_url(f"{url}/records/{credit}?done=signed-off")
    assert "Your sign-off is recorded" in page.locator(".flash.ok").inner_text()
    section = page.locator("#d0-signoff").inner_text()
    assert "rita" in section and "reviewer" in section and "Overridden: DECLINE" in section
    assert "policy 4.2 requires payslips" in section and "EFFECTIVE" in section.upper()
    page.click("nav a:has-text('Queue')")
    page.wait_for_url(f"{url}/queue")
    assert page.locator(f"a[href='/records/{credit}']").count() == 0
    page.click("button:has-text('Log out')")
    page.wait_for_url(f"{url}/login")
    page.goto(f"{url}/queue")
    assert page.url.startswith(f"{url}/login?next=")
    context.close()


def test_a_viewer_sees_no_sign_off_control_and_a_hand_made_post_is_refused(site, browser):
    url, db, credit, hostile = site
    context, page = log_in(browser, url, "vera")
    page.goto(f"{url}/records/{hostile}")
    assert page.locator("button:has-text('Sign off')").count() == 0
    assert page.locator("form[action$='/reviews']").count() == 0
    assert "reads only" in page.locator("#signoff").inner_text()
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    before = hashlib.sha256(Path(db).read_bytes()).hexdigest()
    response = page.request.post(
        f"{url}/records/{hostile}/reviews",
        form={"csrf": csrf, "action": "accept", "rationale": "forged"},
        max_redirects=0,
    )
    assert response.status == 403 and "may not sign off" in response.text()
    api = page.request.post(
        f"{url}/api/records/{hostile}/reviews", data={"action": "accept"}, headers={"X-CSRF-Token": csrf}
    )
    assert api.status == 403
    assert hashlib.sha256(Path(db).read_bytes()).hexdigest() == before
    context.close()


def test_a_script_payload_in_a_prompt_renders_inert_and_no_request_leaves_the_page(site, browser):
    url, _, _, hostile = site
    context, page = log_in(browser, url, "rita")
    requests: list[str] = []
    dialogs: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"{url}/records/{hostile}")
    page.wait_for_load_state("networkidle")
    prompt = page.locator("#d0-decision").inner_text()
    assert "<script>document.documentElement.setAttribute('data-pwned','1')" in prompt
    assert page.evaluate("document.documentElement.getAttribute('data-pwned')") is None
    assert page.title() != "pwned" and dialogs == []
    assert page.locator("#d0-decision script, #d0-decision img[src^='http']").count() == 0
    assert all(r.startswith(url + "/") for r in requests), requests
    assert sorted({r[len(url) :] for r in requests}) == [f"/records/{hostile}", "/static/report.css", "/static/ui.css"]
    context.close()
