"""``llm-audit erase``, ``retention``, ``hold``, ``release``: the lifecycle of sealed records."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click

from .app import db_option, echo_json, json_option, key_store_option, main, make_auditor


def _target(func):
    func = click.option("--record", "record_id", default=None, help="One record id (or an 8+ character prefix).")(func)
    func = click.option(
        "--subject", default=None, help="The data subject's id, as given in the policy's subject field."
    )(func)
    return func


@main.command()
@_target
@click.option("--reason", required=True, help="Why (the request, ticket or article): logged in the tombstone.")
@key_store_option
@db_option
@json_option
def erase(
    subject: str | None, record_id: str | None, reason: str, key_store: Path | None, db: Path, as_json: bool
) -> None:
    """Crypto-shred a data subject's records (or one record): destroy their keys, log a tombstone.

    Refused, with nothing changed, while any of them is inside its retention minimum or
    under a legal hold. Metadata, redacted text and the log stay (and still verify).

    \b
    Example:
      llm-audit --key-store keys.json erase --subject CUST-4471-0923 --reason "GDPR Art. 17 request 2026-014"
      llm-audit erase --record 01a225ad-c908 --reason "retention review" --json
    """
    erased = make_auditor(db=db, key_store=key_store).erase(subject=subject, record_id=record_id, reason=reason)
    if as_json:
        echo_json({"erased": erased, "reason": reason})
    elif not erased:
        click.echo("nothing to erase: every record named is already erased")
    else:
        click.echo(f"erased {len(erased)} record(s) by destroying their keys: {', '.join(erased)}")


@main.command()
@click.option("--apply", is_flag=True, help="Erase what is due now (default: only list).")
@click.option("--as-of", default=None, help="Evaluate at this date instead of now (listing only).")
@click.option("--reason", default="retention period ended", show_default=True, help="Logged with each erasure.")
@click.option("--all", "show_all", is_flag=True, help="List every sealed record, not only those due.")
@key_store_option
@db_option
@json_option
def retention(
    apply: bool, as_of: str | None, reason: str, show_all: bool, key_store: Path | None, db: Path, as_json: bool
) -> None:
    """List (dry run) or erase sealed records past their retention minimum and not on hold.

    \b
    States: due, within-minimum, on-hold, erased, no-key. Only `due` is ever erased.
    Example:
      llm-audit retention                       # what would be erased today
      llm-audit retention --as-of 2028-06-01    # what will be due then
      llm-audit retention --apply --json
    """
    items, erased = make_auditor(db=db, key_store=key_store).retention(apply=apply, as_of=as_of, reason=reason)
    counts = Counter(i.state for i in items)
    if as_json:
        echo_json({"counts": dict(counts), "erased": erased, "records": [i.to_dict() for i in items]})
        return
    for item in items:
        if show_all or item.state == "due":
            click.echo(
                f"{item.record_id}  {item.retention_class:16}  until {item.retain_until[:10]}  {item.state:14}  {item.detail}"
            )
    summary = ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "no sealed records"
    click.echo(f"{summary}; " + (f"erased {len(erased)}" if apply else "dry run: pass --apply to erase what is due"))


@main.command()
@_target
@click.option("--reason", default=None, help="The matter or order the hold is for.")
@click.option("--list", "list_holds", is_flag=True, help="List the holds in force.")
@key_store_option
@db_option
@json_option
def hold(
    subject: str | None,
    record_id: str | None,
    reason: str | None,
    list_holds: bool,
    key_store: Path | None,
    db: Path,
    as_json: bool,
) -> None:
    """Place a legal hold: nothing it covers is erased (not by retention, not by erase) until released.

    \b
    Example:
      llm-audit hold --subject CUST-4471-0923 --reason "litigation 2026-CV-112"
      llm-audit hold --list --json
    """
    auditor = make_auditor(db=db, key_store=key_store)
    if list_holds:
        holds = auditor.holds()
        if as_json:
            echo_json({"holds": [h.__dict__ for h in holds]})
        else:
            for h in holds:
                click.echo(f"{h.scope:7} {h.target}  since {h.at[:19]}  by {h.operator}: {h.reason}")
            click.echo(f"{len(holds)} hold(s) in force")
        return
    placed = auditor.hold(subject=subject, record_id=record_id, reason=reason or "")
    if as_json:
        echo_json(placed.__dict__)
    else:
        click.echo(f"legal hold on {placed.scope} {placed.target}: {placed.reason}")


@main.command()
@_target
@click.option("--reason", required=True, help="Why the hold ends.")
@key_store_option
@db_option
@json_option
def release(
    subject: str | None, record_id: str | None, reason: str, key_store: Path | None, db: Path, as_json: bool
) -> None:
    """Release a legal hold (logged); the records fall back under their retention class.

    \b
    Example:
      llm-audit release --subject CUST-4471-0923 --reason "case 2026-CV-112 closed"
    """
    released = make_auditor(db=db, key_store=key_store).hold(
        subject=subject, record_id=record_id, reason=reason, release=True
    )
    if as_json:
        echo_json(released.__dict__)
    else:
        click.echo(f"released the hold on {released.scope} {released.target}: {released.reason}")
