"""``llm-audit monitor``: recorded decisions over time against a reference window, with alert rules."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .app import db_option, echo_json, json_option, main, make_auditor


@main.command()
@click.option("--window", default="7d", show_default=True, help="Window length: 1d, 7d or 30d.")
@click.option("--since", default=None, help="Start of the monitored period (ISO); cut into windows. [one window]")
@click.option("--until", default=None, help="End of the monitored period (ISO, exclusive). [now]")
@click.option("--reference", default=None, metavar="SINCE..UNTIL", help="Reference window. [the window before]")
@click.option(
    "--baseline",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A saved `monitor --json` output whose last window is the reference.",
)
@click.option("--use-case", default=None, help="Only this use case.")
@click.option(
    "--segment",
    "segments",
    multiple=True,
    metavar="FIELD[:CUTS]",
    help="Also per value of a template field, or numeric bins: income:40000,80000 (repeatable).",
)
@click.option("--alpha", type=float, default=0.01, show_default=True, help="Significance of the proportion tests.")
@click.option("--psi-max", type=float, default=0.25, show_default=True, help="PSI above which a shift is reported.")
@click.option(
    "--rules",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Alert rules ([[alert]] TOML): a firing is stored as evidence and exits 1.",
)
@click.option("--all-changes", is_flag=True, help="List every tested change, not only the significant ones.")
@db_option
@json_option
def monitor(
    window: str,
    since: str | None,
    until: str | None,
    reference: str | None,
    baseline: Path | None,
    use_case: str | None,
    segments: tuple[str, ...],
    alpha: float,
    psi_max: float,
    rules: Path | None,
    all_changes: bool,
    db: Path,
    as_json: bool,
) -> None:
    """Decision rates, label mass, margins, reasons, replays, overrides and flip rates over windows.

    Per use case (and per segment), each window is compared with the reference window: rates with a
    two-proportion z-test (p-value and both sample sizes), distributions with the population
    stability index. With --rules, each rule that fires is logged as an `alert` event, enters the
    review queue, and the command exits 1 (for cron and CI).

    \b
    Examples:
      llm-audit monitor --window 7d
      llm-audit monitor --window 1d --since 2026-11-01 --until 2026-12-01 --segment income:40000,80000
      llm-audit monitor --window 30d --reference 2026-09-01..2026-10-01 --json > baseline.json
      llm-audit monitor --baseline baseline.json --rules examples/monitoring/rules.toml
    """
    from ..monitor.text import report_text

    auditor = make_auditor(db=db)
    report = auditor.monitor(
        window=window,
        since=since,
        until=until,
        reference=reference,
        baseline=baseline,
        use_case=use_case,
        segments=list(segments),
        alpha=alpha,
        psi_max=psi_max,
        rules=rules,
    )
    if as_json:
        echo_json(report.to_dict())
    else:
        click.echo(report_text(report, all_changes=all_changes))
    if report.alerts:
        sys.exit(1)
