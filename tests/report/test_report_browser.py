"""The dossier in a real browser (headless Chromium): no network, no script, a screenshot, a PDF.

Page-initiated requests are read from Chromium's own network log (``--log-net-log``):
they are the requests whose network isolation key is the ``file://`` page, which
separates them from the browser's background services. A control page with an
external image and a script proves the method detects both.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audit import Auditor
from audit.report import IntegrityStatus, build_dossier, render_dossiers
from audit.report.pdf import find_browser, pdf_page_count, run_browser
from tests.report_evidence import GENERATED_AT

pytestmark = pytest.mark.skipif(
    find_browser() is None, reason="Chromium is not installed (apt-get install -y chromium); .ci/run installs it"
)

CONTROL = """<!DOCTYPE html><html><head><title>control</title></head><body>
<img src="http://127.0.0.1:9/x.png"><script>document.documentElement.setAttribute('data-pwned','control')</script></body></html>"""


def open_in_chromium(page: Path, netlog: Path) -> tuple[str, list[str]]:
    """Load ``page``; return the DOM after scripts would have run, and the URLs the page requested."""
    done = run_browser(
        [
            f"--log-net-log={netlog}",
            "--net-log-capture-mode=Everything",
            "--virtual-time-budget=3000",
            "--dump-dom",
            page.resolve().as_uri(),
        ]
    )
    log = json.loads(netlog.read_text())
    names = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    requested = [
        e["params"]["url"]
        for e in log["events"]
        if names.get(e["type"]) == "URL_REQUEST_START_JOB"
        and str(e.get("params", {}).get("network_isolation_key", "")).startswith("file://")
    ]
    return done.stdout, requested


def _html_tag(dom: str) -> str:
    return dom[dom.index("<html") : dom.index(">", dom.index("<html")) + 1]


def test_dossier_requests_nothing_and_runs_no_script(report_case, tmp_path):
    html = render_dossiers(
        [build_dossier(report_case.evidence, GENERATED_AT, IntegrityStatus("verified", "ok"))], GENERATED_AT
    )
    report = tmp_path / "dossier.html"
    report.write_text(html)
    no_csp = tmp_path / "dossier-no-csp.html"  # the content itself must be clean, not only the policy
    no_csp.write_text(html.replace('http-equiv="Content-Security-Policy"', 'http-equiv="X-Removed"'))
    control = tmp_path / "control.html"
    control.write_text(CONTROL)

    dom, requested = open_in_chromium(report, tmp_path / "net-report.json")
    assert "Decision dossier" in dom and requested == [] and "data-pwned" not in _html_tag(dom)
    dom, requested = open_in_chromium(no_csp, tmp_path / "net-no-csp.json")
    assert "&lt;script&gt;" in dom and requested == [] and "data-pwned" not in _html_tag(dom)
    dom, requested = open_in_chromium(control, tmp_path / "net-control.json")
    assert requested == ["http://127.0.0.1:9/x.png"] and 'data-pwned="control"' in _html_tag(dom)

    shot = tmp_path / "dossier.png"
    run_browser(["--hide-scrollbars", "--window-size=1000,1400", f"--screenshot={shot}", report.resolve().as_uri()])
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 30_000  # a blank page compresses to a few KB


def test_pdf_of_a_dossier_has_the_expected_pages(report_case, tmp_path):
    out = Auditor(db=report_case.db).report(
        [report_case.credit.id], tmp_path / "dossier.html", generated_at=GENERATED_AT, pdf=True
    )
    pdf = out.pdf_path.read_bytes()
    assert pdf.startswith(b"%PDF-") and len(pdf) > 20_000
    assert 8 <= pdf_page_count(out.pdf_path) <= 20  # one page break per section, 8 sections
