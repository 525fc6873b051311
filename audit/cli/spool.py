"""``llm-audit append-pending``: store what the pending journal kept while the database could not take it."""

from __future__ import annotations

from pathlib import Path

import click

from .app import db_option, echo_json, json_option, main, make_auditor


@main.command("append-pending")
@db_option
@json_option
def append_pending(db: Path, as_json: bool) -> None:
    """Append every journaled generation, explanation, attention analysis and replay, each with its event.

    A result that could not be stored (database locked beyond the wait, disk full) is kept
    in <db>.pending/; this appends it once the database is writable again, skips what is
    already stored, and removes each journal file once it is committed.

    \b
    Example:
      llm-audit append-pending --db demo.db
    """
    done = make_auditor(db=db).append_pending()
    if as_json:
        echo_json({"appended": [d.to_dict() for d in done]})
        return
    if not done:
        click.echo(f"nothing pending for {db}: every result is stored")
    for item in done:
        click.echo(f"{item.status}: {item.kind} {item.id} (from {item.file})")
