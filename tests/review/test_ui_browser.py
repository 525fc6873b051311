"""The workspace in a real browser: Playwright driving Debian's Chromium (no browser download).

A reviewer logs in, opens the queue and a record, reads the decision and its reasons in the first
screen (the sign-off form below them), overrides it with a rationale, is taken to the next unsigned
record of the queue, finds the sign-off among every sign-off and the record gone from the queue,
and logs out; empty lists say why they are empty; a download is a file and is logged; a viewer sees no sign-off control and a
hand-made POST is refused; a prompt carrying a script payload renders as inert text and no request
leaves the page. Chromium runs with the background services off, so any request it makes is the page's.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
from pathlib import Path

import pytest

from audit import Auditor
from audit.decision.mass import share_text
from audit.decision.reasons import toward_decision
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
DECISION = {"labels": ["APPROVE", "DECLINE"], "favourable": "APPROVE", "reasons": {"score": "Credit score"}}
VIEWPORT = {"width": 1400, "height": 1000}
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
            decision=DECISION,
        )
        auditor.explain(credit.id, "feature-ablation", "field")
        auditor.generate(
            template="Income {income}, score {score}. Approve?",
            variables={"income": "61000", "score": "700"},
            max_new_tokens=3,
            use_case="credit-decision",
            decision=DECISION,
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
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.goto(f"{url}/queue")
    assert page.url.startswith(f"{url}/login?next=")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Log in')")
    page.wait_for_url(f"{url}/queue")
    return context, page


def test_a_reviewer_reads_the_decision_and_its_reasons_first_signs_and_is_taken_to_the_next_record(site, browser):
    url, db, credit, _ = site
    context, page = log_in(browser, url, "rita")
    assert page.locator("h1").inner_text().startswith("Review queue")
    queue = [r["record_id"] for r in page.request.get(f"{url}/api/queue").json()["records"]]
    expected_next = next(r for r in queue if r != credit)  # every record here is unsigned and not rita's
    row = page.locator(f"a[href='/records/{credit}']")
    assert row.count() == 1
    row.click()
    page.wait_for_url(f"{url}/records/{credit}")
    assert page.locator(".recordbar").inner_text().count("no sign-off yet") == 1
    with AuditStore.open(db) as store:
        recorded = store.records.get(credit).decision
        explained = next(store.explanations.iter(credit, granularity="field", target="decision"))
    decision, reasons, form = page.locator("#decision"), page.locator("#reasons"), page.locator("#signoff form")
    assert recorded.chosen in decision.inner_text()
    assert share_text(sum(math.exp(lp) for lp in recorded.label_logprobs.values())) in decision.inner_text()
    listed = reasons.locator("ol.reasons-first li")
    toward = toward_decision(explained.seq_attr)  # the stored explanation's fields that moved it toward the decision
    if listed.count():  # the reasons the stored explanation gives, strongest first
        assert listed.count() == len(toward) and explained.features[toward[0]] in listed.first.inner_text().lower()
    else:  # or the statement that none could be given, and why (the tiny model's labels hold too little mass)
        said = reasons.inner_text()
        assert "No faithful reasons could be given" in said or "No field moved the decision" in said, said
    shown = {name: decision.bounding_box() for name, decision in (("decision", decision), ("reasons", reasons))}
    for name, box in shown.items():  # read in the first screen, before any scrolling
        assert box["y"] + box["height"] <= VIEWPORT["height"], (name, box)
    assert form.bounding_box()["y"] >= shown["reasons"]["y"] + shown["reasons"]["height"]  # signed after reading
    assert page.locator("#integrity").count() == 1 and page.content().count("match their table rows") == 1
    assert "I attest" in form.inner_text() or "attest that I have read" in form.inner_text()
    page.check("input[name=action][value=override]")
    other = next(label for label in recorded.labels if label != recorded.chosen)
    page.select_option("select[name=decision]", other)  # an override names another of the record's labels
    page.fill("textarea[name=rationale]", "Income is not verified; policy 4.2 requires payslips.")
    page.click("button:has-text('Sign off')")
    page.wait_for_url(f"{url}/records/{expected_next}?done=signed-off-next")
    assert "This is the next unsigned record" in page.locator(".flash.ok").inner_text()
    page.goto(f"{url}/records/{credit}/part/signoff")
    section = page.locator("#d0-signoff").inner_text()
    assert "rita" in section and "reviewer" in section and f"Overridden: {other}" in section
    assert "policy 4.2 requires payslips" in section and "EFFECTIVE" in section.upper()
    page.click("nav a:has-text('Queue')")
    page.wait_for_url(f"{url}/queue")
    assert page.locator(f"a[href='/records/{credit}']").count() == 0
    page.click("button:has-text('Log out')")
    page.wait_for_url(f"{url}/login")
    page.goto(f"{url}/queue")
    assert page.url.startswith(f"{url}/login?next=")
    context.close()


def test_empty_lists_say_why_they_are_empty(site, browser):
    url, _, _, _ = site
    context, page = log_in(browser, url, "rita")
    cases = {
        "/queue?page=9": "Page 9 is past the end: this list has 1 page.",
        "/queue?reason=no-such-reason": "There is no queue reason called “no-such-reason”",
        "/queue?mine=1": "No record in the queue is assigned to you.",
        "/queue?reason=replay": "No record is in the queue for this reason now.",
        "/records?page=5": "Page 5 is past the end: this list has 1 page.",
        "/records?use_case=nothing-like-this": "No record matches these filters.",
    }
    for path, said in cases.items():
        page.goto(url + path)
        text = page.locator("#empty").inner_text()
        assert said in text, (path, text)
        assert "every record is signed off" not in text
    context.close()


def test_a_dossier_and_a_list_download_as_files_and_each_download_is_logged(site, browser):
    url, db, credit, _ = site
    context, page = log_in(browser, url, "vera")
    page.goto(f"{url}/records/{credit}")
    with page.expect_download() as got:
        page.click("a:has-text('dossier (HTML)')")
    html = Path(got.value.path()).read_text(encoding="utf-8")
    assert got.value.suggested_filename == f"dossier-{credit}.html"
    assert credit in html and "<style>" in html and 'src="http' not in html  # self-contained
    page.goto(f"{url}/records?use_case=credit-decision")
    with page.expect_download() as got:
        page.click("a:has-text('Download this list (CSV)')")
    rows = list(csv.DictReader(io.StringIO(Path(got.value.path()).read_text(encoding="utf-8"))))
    listed = page.request.get(f"{url}/api/records?use_case=credit-decision").json()["records"]
    assert [r["record_id"] for r in rows] == [r["record_id"] for r in listed]
    with AuditStore.open(db) as store:
        dossier = store.access.downloads(credit)
        lists = store.access.downloads("list:records")
    assert [(d["user"], d["format"]) for d in dossier] == [("vera", "html")]
    assert dossier[0]["sha256"] == hashlib.sha256(html.encode("utf-8")).hexdigest()
    assert lists[-1]["user"] == "vera" and lists[-1]["rows"] == len(rows) == 2
    assert lists[-1]["filters"] == {"use_case": "credit-decision"}
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
    prompt = page.locator("#fields pre").first.text_content()
    assert "<script>document.documentElement.setAttribute('data-pwned','1')" in prompt
    assert page.evaluate("document.documentElement.getAttribute('data-pwned')") is None
    assert page.title() != "pwned" and dialogs == []
    assert page.locator("main script, main img[src^='http']").count() == 0
    assert all(r.startswith(url + "/") for r in requests), requests
    assert sorted({r[len(url) :] for r in requests}) == [f"/records/{hostile}", "/static/report.css", "/static/ui.css"]
    context.close()
