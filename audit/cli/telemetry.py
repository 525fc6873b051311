"""``llm-audit otel-export``: recorded generations as OpenTelemetry spans, sent to an OTLP/HTTP endpoint."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..errors import UserError
from .app import db_option, echo_json, json_option, main, make_auditor


@main.command("otel-export")
@click.option("--since", required=True, help="Records started at or after this ISO time.")
@click.option("--until", default=None, help="Records started before this ISO time.")
@click.option("--use-case", default=None, help="Only records of this use case.")
@click.option(
    "--otlp-endpoint",
    required=True,
    metavar="URL",
    help="OTLP/HTTP endpoint, e.g. http://127.0.0.1:4318 (/v1/traces is added).",
)
@click.option("--content", is_flag=True, help="Include prompts and completions (never under a privacy policy).")
@click.option("--timeout", type=float, default=10.0, show_default=True, help="Seconds per request to the endpoint.")
@db_option
@json_option
def otel_export(
    since: str,
    until: str | None,
    use_case: str | None,
    otlp_endpoint: str,
    content: bool,
    timeout: float,
    db: Path,
    as_json: bool,
) -> None:
    """Send a span per recorded generation (GenAI semantic conventions) and per fairness run.

    Replay verdicts and flip rates go as gen_ai.evaluation.result events; the record id and its log
    position are span attributes; prompts and completions only with --content. Exits 1 when the
    endpoint did not take every span (they are counted as dropped).

    \b
    Example:
      llm-audit otel-export --since 2026-11-01 --otlp-endpoint http://127.0.0.1:4318
    """
    if not otlp_endpoint.startswith(("http://", "https://")):
        raise UserError(f"--otlp-endpoint {otlp_endpoint!r} is not an http(s) URL: write e.g. http://127.0.0.1:4318")
    auditor = make_auditor(db=db)
    outcome = auditor.otel_export(
        otlp_endpoint, since=since, until=until, use_case=use_case, content=content, timeout=timeout
    )
    if as_json:
        echo_json(outcome.to_dict())
    else:
        click.echo(
            f"{outcome.sent} spans sent to {outcome.endpoint} ({outcome.records} records, {outcome.fairness_runs} "
            f"fairness runs){f'; {outcome.dropped} dropped: the endpoint did not take them' if outcome.dropped else ''}"
        )
    if outcome.dropped:
        sys.exit(1)
