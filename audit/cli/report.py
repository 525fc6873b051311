"""``llm-audit report``: a regulator-ready HTML dossier of records, or a summary over many."""

from __future__ import annotations

from pathlib import Path

import click

from .app import db_option, echo_json, json_option, main, make_auditor
from .options import record_filters


@main.command()
@click.argument("record_ids", nargs=-1)
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="HTML file to write.")
@record_filters
@click.option(
    "--generated-at",
    default=None,
    metavar="ISO",
    help="Report time to print (default now); fixing it makes the HTML byte-identical.",
)
@click.option("--pdf", is_flag=True, help="Also write a PDF next to the HTML (headless Chromium).")
@click.option("--dossiers", is_flag=True, help="Summary: also write dossier-ID.html for every listed record.")
@db_option
@json_option
def report(
    record_ids: tuple[str, ...],
    output: Path,
    use_case: str | None,
    since: str | None,
    until: str | None,
    generated_at: str | None,
    pdf: bool,
    dossiers: bool,
    db: Path,
    as_json: bool,
) -> None:
    """Render a self-contained HTML report (no network, printable) and log its SHA-256.

    With record ids: one dossier per record in one file. Without: a summary of the
    records matching --use-case/--since/--until, linking to dossier-ID.html files.

    \b
    Examples:
      llm-audit report 01a2259f-3082-7a9f-ac04-d343f525d3c4 -o dossier.html --pdf
      llm-audit report --use-case credit-decision --since 2026-01-01 -o summary.html
    """
    out = make_auditor(db=db).report(
        list(record_ids),
        output,
        use_case=use_case,
        since=since,
        until=until,
        generated_at=generated_at,
        pdf=pdf,
        dossiers=dossiers,
    )
    if as_json:
        echo_json(
            {
                "kind": out.kind,
                "path": str(out.path),
                "sha256": out.sha256,
                "size_bytes": out.size_bytes,
                "generated_at": out.generated_at,
                "record_ids": out.record_ids,
                "pdf": str(out.pdf_path) if out.pdf_path else None,
                "dossiers": [str(p) for p in out.dossiers],
                "report_id": out.report_id,
                "seconds": round(out.seconds, 3),
            }
        )
        return
    click.echo(
        f"{out.kind} of {len(out.record_ids)} record(s): {out.path} ({out.size_bytes / 1024:.0f} KiB, {out.seconds:.2f} s)"
    )
    click.echo(f"sha256 {out.sha256}  (logged as report {out.report_id})")
    if out.dossiers:
        click.echo(f"{len(out.dossiers)} dossier files beside it")
    if out.pdf_path:
        click.echo(f"pdf: {out.pdf_path}")
