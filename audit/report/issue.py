"""Issue a report: read the store, build the view, render, write the file(s), log the issue.

Order matters for an audit tool: every input is checked and every record read before
anything is written, so a mistake leaves both the database and the output untouched;
the HTML is written atomically, then its SHA-256 is logged as a "report" event in the
same transaction as its row, so what was handed out can be matched to the log.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..clock import normalise_time
from ..errors import UserError
from ..ids import uuid7
from ..store import AuditStore, check_writable
from ..store.reports import IssuedReport
from .dossier import build_dossier
from .evidence import gather
from .integrity import evidence_status, log_status, run_verification
from .oversight import build_oversight
from .pdf import html_to_pdf
from .render import render_dossiers, render_summary, sha256_html
from .summary import DOSSIER_LINK, build_summary
from .trends import trends_of


@dataclass
class ReportOutput:
    """What :meth:`audit.Auditor.report` returns: the files written and what was logged."""

    kind: str  # "dossier" | "summary"
    path: Path
    sha256: str
    size_bytes: int
    generated_at: str
    record_ids: list[str]
    seconds: float  # reading, building and rendering (not the PDF)
    pdf_path: Path | None = None
    pdf_seconds: float | None = None
    report_id: str | None = None
    dossiers: list[Path] = field(default_factory=list)


def _check_output(path: Path, pdf: bool) -> None:
    folder = path.resolve().parent
    if path.is_dir():
        raise UserError(f"{path} is a folder: pass -o with a file name such as {path / 'report.html'}")
    if not folder.is_dir():
        raise UserError(f"folder {folder} does not exist: create it or pass -o with a path in an existing folder")
    if not os.access(folder, os.W_OK):
        raise UserError(f"folder {folder} is not writable: pass -o with a path in a writable folder")
    if pdf:
        from .pdf import find_browser

        if find_browser() is None:
            raise UserError(
                "--pdf needs Chromium and none was found: install it (apt-get install -y chromium) or leave out --pdf"
            )


def _write(path: Path, html: str) -> int:
    data = html.encode("utf-8")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return len(data)


def issue_report(
    db_path: Path,
    output: Path,
    *,
    record_ids: list[str] | None = None,
    use_case: str | None = None,
    since: str | None = None,
    until: str | None = None,
    generated_at: str | None = None,
    pdf: bool = False,
    dossiers: bool = False,
    verify: Callable[[], Any] | None = None,
    log: bool = True,
) -> ReportOutput:
    """A dossier of ``record_ids``, or (without ids) a summary of the records matching the filters."""
    output = Path(output)
    generated = normalise_time(generated_at, "--generated-at") or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    since_n = normalise_time(since, "--since", store_format=True)
    until_n = normalise_time(until, "--until", store_format=True)
    if record_ids and (use_case or since or until):
        raise UserError("give record ids for a dossier, or --use-case/--since/--until for a summary, not both")
    _check_output(output, pdf)
    if log:
        check_writable(db_path)
    started = time.perf_counter()
    check = run_verification(verify)
    extra: list[tuple[Path, str, list[str]]] = []  # (path, html, record ids) of linked dossiers
    with AuditStore.open(db_path) as store:
        if record_ids:
            records = [store.records.get(rid) for rid in record_ids]
            ids = [r.id for r in records]
            if len(set(ids)) != len(ids):
                raise UserError("the same record is named twice: pass each record id once")
            views = []
            for i, record in enumerate(records):
                evidence = gather(store, record)
                views.append(build_dossier(evidence, generated, evidence_status(check, evidence), i))
            html, kind, filters = render_dossiers(views, generated), "dossier", {}
        else:
            if store.records.count(use_case=use_case, since=since_n, until=until_n) == 0:
                raise UserError(
                    "no record matches these filters: check them with `llm-audit list --use-case ... --since ...`"
                )
            shown = [
                ("Use case", use_case or "all"),
                ("Since", since_n or "the first record"),
                ("Until", until_n or "the last record"),
            ]
            listed = [
                gather(store, r, full=False)
                for r in store.records.iter(use_case=use_case, since=since_n, until=until_n)
            ]
            seqs = [e.logged.seq if e.logged else None for e in listed]
            oversight = build_oversight(store.reviews.oversight(use_case, since_n, until_n))
            summary = build_summary(
                listed, generated, log_status(check, seqs), shown, oversight=oversight, fairness=store.fairness.iter()
            )
            summary.monitoring = trends_of(store, use_case, since_n, until_n, lambda *_: None)
            ids = [row.record_id for row in summary.index]
            html, kind = render_summary(summary), "summary"
            filters = {"use_case": use_case, "since": since_n, "until": until_n}
            if dossiers:
                for rid in ids:
                    evidence = gather(store, store.records.get(rid))
                    view = build_dossier(evidence, generated, evidence_status(check, evidence))
                    extra.append(
                        (output.with_name(DOSSIER_LINK.format(id=rid)), render_dossiers([view], generated), [rid])
                    )
    seconds = time.perf_counter() - started
    size = _write(output, html)
    digest = sha256_html(html)
    result = ReportOutput(kind, output, digest, size, generated, ids, seconds)
    issued = [IssuedReport(uuid7(), kind, digest, generated, ids, filters, size)]
    for path, text, rids in extra:
        issued.append(IssuedReport(uuid7(), "dossier", sha256_html(text), generated, rids, {}, _write(path, text)))
        result.dossiers.append(path)
    if pdf:
        pdf_started = time.perf_counter()
        result.pdf_path = html_to_pdf(output, output.with_suffix(".pdf"))
        result.pdf_seconds = time.perf_counter() - pdf_started
    if log:
        with AuditStore.open(db_path, write=True) as store:
            with store.transaction():
                for report in issued:
                    store.reports.append(report)
        result.report_id = issued[0].id
    return result
