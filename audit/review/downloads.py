"""Downloads from the workspace: a record's dossier (self-contained HTML, or PDF) and the current list as CSV.

Each is built from what the pages read (the same dossier, the same index rows, in the same order)
and logged as a ``download`` event before it is handed over: who took which record or which list,
in what format, with the SHA-256 of the bytes they received. The dossier is the report's own (the
static dossier, with its integrity statement for this record), not the workspace page; a sealed
record's dossier holds the redacted text. A CSV cell that a spreadsheet would run as a formula
(``=``, ``+``, ``-``, ``@``, tab, carriage return first) is prefixed with ``'``: values come from
applicants.
"""

from __future__ import annotations

import csv
import hashlib
import io
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..clock import utc_iso
from ..errors import UserError
from ..report.pdf import find_browser, html_to_pdf
from ..report.render import render_dossiers
from ..store.review_index import IndexRow, RecordFilter
from .errors import BadRequest, Unavailable
from .pages import ReviewPages
from .queue import refresh
from .roles import READ, Principal, require
from .validate import choice, writable

FORMATS = ("html", "pdf")
MAX_CSV_ROWS = 50_000
CSV_COLUMNS = (
    "record_id",
    "recorded_at",
    "use_case",
    "operator",
    "decision",
    "label_mass",
    "key_fields",
    "assignee",
    "review_state",
    "reviewer",
    "replay",
    "reasons",
)


@dataclass(frozen=True)
class Download:
    filename: str
    media_type: str
    body: bytes


class Downloads:
    """Dossier and list downloads over one audit database, each logged."""

    def __init__(self, db_path: Path, pages: ReviewPages) -> None:
        self.db_path = db_path
        self.pages = pages

    def dossier(self, principal: Principal, record_id: str, fmt: str = "html") -> Download:
        choice(fmt, FORMATS, "format")
        if fmt == "pdf" and find_browser() is None:
            raise Unavailable("a PDF needs Chromium on the server and none is installed: download the HTML dossier")
        view = self.pages.record(principal, record_id)
        html = render_dossiers([view.dossier], utc_iso()[:19] + "Z")
        body = html.encode("utf-8") if fmt == "html" else _pdf(html)
        name = f"dossier-{view.record_id}.{fmt}"
        self._log(principal, view.record_id, {"format": fmt}, body)
        return Download(name, "text/html; charset=utf-8" if fmt == "html" else "application/pdf", body)

    def records_csv(self, principal: Principal, filters: RecordFilter) -> Download:
        require(principal, READ)
        with writable(self.db_path) as store:
            refresh(store)
            rows, total = store.review_index.records(filters, limit=MAX_CSV_ROWS + 1, offset=0)
        return self._csv(principal, "list:records", rows, total, _filters(filters))

    def queue_csv(self, principal: Principal, reason: str | None, mine: bool) -> Download:
        require(principal, READ)
        with writable(self.db_path) as store:
            refresh(store)
            rows, total = store.review_index.queue(
                reason=reason, limit=MAX_CSV_ROWS + 1, offset=0, assignee=principal.name if mine else None
            )
        return self._csv(principal, "list:queue", rows, total, {"reason": reason, "mine": mine})

    def _csv(self, principal: Principal, subject: str, rows: list[IndexRow], total: int, shown: dict) -> Download:
        if total > MAX_CSV_ROWS:
            raise BadRequest(f"{total:,} records match: narrow the filters to at most {MAX_CSV_ROWS:,} for a CSV")
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        writer.writerows([_cell(v) for v in csv_row(r)] for r in rows)
        body = out.getvalue().encode("utf-8")
        self._log(principal, subject, {"format": "csv", "filters": shown, "rows": len(rows)}, body)
        return Download(f"{subject.split(':')[1]}-{utc_iso()[:10]}.csv", "text/csv; charset=utf-8", body)

    def _log(self, principal: Principal, subject: str, what: dict[str, Any], body: bytes) -> None:
        payload = {
            **what,
            "user": principal.name,
            "role": principal.role,
            "via": principal.via,
            "bytes": len(body),
            "sha256": hashlib.sha256(body).hexdigest(),
            "at": utc_iso(),
        }
        with writable(self.db_path) as store:
            store.access.download(subject, payload)


def csv_row(row: IndexRow) -> list[str]:
    """One list row as the CSV states it (the label mass as a probability with four decimals)."""
    return [
        row.record_id,
        row.started_at,
        row.use_case,
        row.operator,
        row.decision or "",
        "" if row.label_mass is None else f"{row.label_mass:.4f}",
        "; ".join(f"{k}={v}" for k, v in row.key_fields),
        row.assignee or "",
        row.review_state,
        row.reviewer or "",
        row.replay_verdict,
        "; ".join(f"{r}: {d}" for r, d in row.reasons),
    ]


def _cell(value: str) -> str:
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _filters(filters: RecordFilter) -> dict[str, Any]:
    return {k: v for k, v in vars(filters).items() if v is not None}


def _pdf(html: str) -> bytes:
    with tempfile.TemporaryDirectory(prefix="llm-audit-pdf-") as folder:
        source = Path(folder) / "dossier.html"
        source.write_text(html, encoding="utf-8")
        try:
            return html_to_pdf(source, source.with_suffix(".pdf")).read_bytes()
        except UserError as exc:
            raise Unavailable(str(exc)) from None
