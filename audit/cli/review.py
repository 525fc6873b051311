"""``llm-audit review``, ``llm-audit users`` and ``llm-audit ui``: the review workspace from the command line."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..review.identity import LocalAdmin
from ..review.roles import ROLES
from .app import db_option, echo_json, json_option, key_store_option, main, make_auditor, model_options
from .options import policy_option, trusted_key_option


@main.command()
@click.argument("record_id")
@click.option("--accept", "accept", is_flag=True, help="Accept the model's output.")
@click.option("--override", "override", default=None, metavar="DECISION", help="Override it with this decision.")
@click.option("--rationale", default="", help="Why (required for an override).")
@click.option("--operator", default=None, help="Who signs off [$LLM_AUDIT_OPERATOR or the login name].")
@click.option(
    "--based-on",
    default=None,
    metavar="REVIEW_ID",
    help="The record's latest sign-off you read (leave out when it has none); refused if another came since.",
)
@db_option
@json_option
def review(
    record_id: str,
    accept: bool,
    override: str | None,
    rationale: str,
    operator: str | None,
    based_on: str | None,
    db: Path,
    as_json: bool,
) -> None:
    """Sign off a record: accept the model's output, or override it with your own decision.

    The sign-off is logged like one made in the workspace, attributed to the operator (who must be
    an enabled workspace user with the reviewer role or higher) and marked as made from the CLI.
    Four eyes: nobody signs off a record they recorded. A record already signed off is signed
    again only by naming the latest sign-off read (--based-on, its id in `llm-audit show`), so
    nobody replaces a sign-off they have not seen. An override of a record with a scored decision
    chooses one of its other labels, or "no decision possible".

    \b
    Example:
      llm-audit review 01a2259f-3082-7a9f-ac04-d343f525d3c4 --accept
      llm-audit review 01a2259f --override DECLINE --rationale "Income not verified"
    """
    if accept == (override is not None):
        raise click.UsageError("give exactly one of --accept or --override DECISION")
    auditor = make_auditor(db=db, operator=operator)
    reviews = auditor.reviews
    signed = reviews.sign_off(
        reviews.cli_user(auditor.operator), record_id, "accept" if accept else "override", override, rationale, based_on
    )
    if as_json:
        echo_json(signed.payload())
        return
    what = "accepted the model's output" if signed.action == "accept" else f"overrode it with {signed.decision!r}"
    click.echo(f"{signed.reviewer} ({signed.role}) {what} for record {signed.record_id}: sign-off {signed.id} logged")


@main.group()
def users() -> None:
    """Workspace users and roles (viewer, reviewer, validator, admin); every change is logged.

    \b
    Example:
      llm-audit users add alice --role admin
      llm-audit users list
    """


def _admin(db: Path) -> LocalAdmin:
    auditor = make_auditor(db=db)
    return auditor.reviews.local_admin(auditor.operator)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


@users.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True, help="What the user may do.")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
@db_option
def users_add(name: str, role: str, password_stdin: bool, db: Path) -> None:
    """Add a user (the password is asked for twice, or read from stdin; stored as an Argon2id hash).

    \b
    Example:
      llm-audit users add alice --role admin
      printf '%s\\n' "$PASSWORD" | llm-audit users add bob --role reviewer --password-stdin
    """
    account = _admin(db).add(name, role, _password(password_stdin))
    click.echo(f"added {account.name} with the role {account.role}")


@users.command("list")
@db_option
@json_option
def users_list(db: Path, as_json: bool) -> None:
    """List users with their current role and state.

    \b
    Example:
      llm-audit users list --json
    """
    accounts = make_auditor(db=db).reviews.accounts.list()
    if as_json:
        echo_json({"users": [a.to_dict() for a in accounts]})
        return
    if not accounts:
        click.echo("No users yet: add the first admin with `llm-audit users add NAME --role admin`.")
        return
    click.echo(f"{'name':24}  {'role':9}  {'state':8}  {'token':5}  {'since':19}  locked")
    for a in accounts:
        state = "disabled" if a.disabled else "enabled"
        lock = f"until {a.locked_until[:19]}Z from {a.locked_where}" if a.locked_until else "no"
        click.echo(f"{a.name:24}  {a.role:9}  {state:8}  {'yes' if a.has_token else 'no':5}  {a.since[:19]:19}  {lock}")


@users.command("disable")
@click.argument("name")
@db_option
def users_disable(name: str, db: Path) -> None:
    """Disable a user: their sessions end and their API token is deleted, at once (enabling does not revive them).

    \b
    Example:
      llm-audit users disable bob
    """
    _admin(db).disable(name)
    click.echo(f"disabled {name}")


@users.command("enable")
@click.argument("name")
@db_option
def users_enable(name: str, db: Path) -> None:
    """Enable a disabled user again.

    \b
    Example:
      llm-audit users enable bob
    """
    _admin(db).enable(name)
    click.echo(f"enabled {name}")


@users.command("unlock")
@click.argument("name")
@db_option
def users_unlock(name: str, db: Path) -> None:
    """Let a user whose failed logins hold them back log in again at once (a running workspace included).

    A new password (`users password`) and `users enable` unlock too.

    \b
    Example:
      llm-audit users unlock bob
    """
    account = _admin(db).unlock(name)
    click.echo(f"unlocked {account.name}: earlier failed logins no longer count")


@users.command("set-role")
@click.argument("name")
@click.argument("role", type=click.Choice(ROLES))
@db_option
def users_set_role(name: str, role: str, db: Path) -> None:
    """Change a user's role (their sessions end and their API token is deleted: they log in again).

    \b
    Example:
      llm-audit users set-role bob validator
    """
    account = _admin(db).set_role(name, role)
    click.echo(f"{account.name} now has the role {account.role}")


@users.command("password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
@db_option
def users_password(name: str, password_stdin: bool, db: Path) -> None:
    """Set a new password for a user: their sessions end, their API token is deleted, failed logins no longer count.

    \b
    Example:
      llm-audit users password bob
    """
    _admin(db).set_password(name, _password(password_stdin))
    click.echo(f"new password set for {name}")


@users.command("token")
@click.argument("name")
@db_option
def users_token(name: str, db: Path) -> None:
    """Create a personal API token for a user (replacing any earlier one); printed once, stored hashed.

    \b
    Example:
      llm-audit users token alice
    """
    click.echo(_admin(db).issue_token(name))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True, help="Port to listen on.")
@policy_option
@trusted_key_option("Pin record pages to this public key instead of the trust file")
@click.option(
    "--tls-cert",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Serve HTTPS with this PEM certificate (chain); with --tls-key. Cookies are then Secure, with HSTS.",
)
@click.option(
    "--tls-key", type=click.Path(dir_okay=False, path_type=Path), default=None, help="The private key of --tls-cert."
)
@click.option(
    "--forwarded-allow-ips",
    default=None,
    metavar="IPS",
    help="Behind a reverse proxy: its addresses (comma-separated), whose X-Forwarded-For/-Proto are believed.",
)
@key_store_option
@db_option
@model_options
def ui(
    host: str,
    port: int,
    policy: Path | None,
    key: Path | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    forwarded_allow_ips: str | None,
    key_store: Path | None,
    db: Path,
    model: str | None,
    device: str | None,
    dtype: str | None,
) -> None:
    """Start the review workspace: queue, records, live dossiers, sign-offs, findings, jobs.

    Open the address it prints in a browser and log in as a workspace user (create the first
    admin with `llm-audit users add NAME --role admin`). Stop it with Ctrl-C.

    \b
    Example:
      llm-audit ui --db demo.db
      llm-audit ui --db demo.db --host 127.0.0.1 --port 8080 --key signing.pub.pem
      llm-audit ui --db demo.db --host 0.0.0.0 --port 8443 --tls-cert cert.pem --tls-key key.pem
      llm-audit ui --db demo.db --forwarded-allow-ips 127.0.0.1
    """
    from ..ui.server import serve, transport_options  # imports the web stack: not needed for --help

    transport_options(tls_cert, tls_key, forwarded_allow_ips)  # refused before the model loads
    auditor = make_auditor(db=db, model=model, device=device, dtype=dtype, policy=policy, key_store=key_store)
    serve(
        auditor,
        host=host,
        port=port,
        key=key,
        say=click.echo,
        tls_cert=tls_cert,
        tls_key=tls_key,
        forwarded_allow_ips=forwarded_allow_ips,
    )
