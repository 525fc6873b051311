"""``llm-audit list`` and ``llm-audit show``: read recorded generations (never writes)."""

from __future__ import annotations

from pathlib import Path

import click

from .app import db_option, echo_json, json_option, main, make_auditor
from .format import record_detail, truncate
from .options import record_filters


@main.command("list")
@record_filters
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many records.")
@db_option
@json_option
def list_records(
    use_case: str | None, since: str | None, until: str | None, limit: int | None, db: Path, as_json: bool
) -> None:
    """List recorded generations, oldest first.

    \b
    Example:
      llm-audit list --use-case credit-decision
    """
    records = make_auditor(db=db).list(use_case=use_case, since=since, until=until, limit=limit)
    if as_json:
        echo_json(
            {
                "records": [
                    {
                        "seq": r.seq,
                        "id": r.id,
                        "started_at": r.started_at,
                        "use_case": r.use_case,
                        "model": r.model.name,
                        "input_tokens": r.input_tokens,
                        "output_tokens": r.output_tokens,
                        "output_text": r.output_text,
                        "decision": r.decision.chosen if r.decision else None,
                    }
                    for r in records
                ]
            }
        )
        return
    if not records:
        click.echo("No records match.")
        return
    click.echo(
        f"{'seq':>5}  {'id':36}  {'started (UTC)':19}  {'use case':18}  {'in':>4} {'out':>4}  {'decision':10}  output"
    )
    for r in records:
        decision = truncate(r.decision.chosen, 10) if r.decision else "-"
        click.echo(
            f"{r.seq:>5}  {r.id:36}  {r.started_at[:19]:19}  {truncate(r.use_case, 18):18}  "
            f"{r.input_tokens:>4} {r.output_tokens:>4}  {decision:10}  {truncate(r.output_text, 50)}"
        )


@main.command()
@click.argument("record_id")
@db_option
@json_option
def show(record_id: str, db: Path, as_json: bool) -> None:
    """Show one record in full (an unambiguous id prefix of 8+ characters works too).

    \b
    Example:
      llm-audit show 01a2259f-3082-7a9f-ac04-d343f525d3c4 --json
    """
    record = make_auditor(db=db).get(record_id)
    if as_json:
        echo_json(record.to_dict())
    else:
        click.echo(record_detail(record))
