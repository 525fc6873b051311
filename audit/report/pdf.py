"""HTML to PDF with headless Chromium (Debian's ``chromium`` package).

Chromium is the browser the report is tested in, so the PDF is what a reader sees on
screen, laid out by the print CSS; WeasyPrint would be a second layout engine with its
own CSS gaps (no SVG ``title``, different flexbox) to test against.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..errors import UserError

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Flags that keep the browser from reaching out: no background services, no sync, no
# component updates, no DNS prefetch; the report's own CSP forbids any fetch anyway.
OFFLINE_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--metrics-recording-only",
    "--dns-prefetch-disable",
    "--mute-audio",
)


def find_browser() -> str | None:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def run_browser(args: list[str], timeout: float = 120.0) -> subprocess.CompletedProcess:
    browser = find_browser()
    if browser is None:
        raise UserError(
            "--pdf needs Chromium and none was found: install it (apt-get install -y chromium) or leave out --pdf"
        )
    with tempfile.TemporaryDirectory(prefix="llm-audit-chromium-") as profile:
        cmd = [browser, *OFFLINE_FLAGS, f"--user-data-dir={profile}", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def html_to_pdf(html_path: Path, pdf_path: Path) -> Path:
    """Print ``html_path`` to ``pdf_path`` (A4, from the page's own @page rules, no browser header/footer)."""
    html_path, pdf_path = Path(html_path).resolve(), Path(pdf_path).resolve()
    pdf_path.unlink(missing_ok=True)
    done = run_browser(
        ["--no-pdf-header-footer", "--virtual-time-budget=10000", f"--print-to-pdf={pdf_path}", html_path.as_uri()]
    )
    if not pdf_path.is_file() or pdf_path.stat().st_size == 0:
        tail = (done.stderr or "").strip().splitlines()[-1:] or ["no output"]
        raise UserError(
            f"Chromium did not write {pdf_path} (exit {done.returncode}: {tail[0]}): check that it runs headless here"
        )
    return pdf_path


def pdf_page_count(pdf_path: Path) -> int:
    """Pages in a PDF written by Chromium (Skia writes one ``/Type /Page`` object per page)."""
    data = Path(pdf_path).read_bytes()
    return len(re.findall(rb"/Type\s*/Page(?![s\w])", data))
