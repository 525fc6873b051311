"""``export`` and ``verify-pack``: evidence packs for a regulator's request (:mod:`audit.pack`)."""

from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path

import click

from ..errors import UserError
from .app import db_option, main, make_auditor

FILE = click.Path(dir_okay=False, path_type=Path)


@main.command()
@db_option
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="The pack folder to create.")
@click.option("--use-case", default=None, help="Only records of this use case.")
@click.option("--since", default=None, help="Only records started at or after this ISO date/time (UTC if naive).")
@click.option("--until", default=None, help="Only records started before this ISO date/time.")
@click.option("--decision", default=None, help="Only records whose decision chose this label (e.g. DECLINE).")
@click.option("--reviewed/--unreviewed", default=None, help="Only records signed off at least once / never.")
@click.option("--ids", "ids_file", type=FILE, default=None, help="Only the record ids in this file (one per line).")
@click.option(
    "--since-checkpoint",
    type=FILE,
    default=None,
    help="A checkpoint note the requester holds: prove the log extends it.",
)
@click.option(
    "--witnessed", type=FILE, default=None, help="The newest checkpoint's note with witness cosignatures, to include."
)
@click.option(
    "--prove-exclusions", is_flag=True, help="Also disclose every other event's content, so completeness is proven."
)
@click.option("--open-sealed", is_flag=True, help="Add sealed records' data keys, if the policy lets --role see them.")
@click.option("--role", default="admin", show_default=True, help="The workspace role the exporter acts in.")
@click.option(
    "--policy", type=FILE, envvar="LLM_AUDIT_POLICY", default=None, help="Privacy policy TOML (env LLM_AUDIT_POLICY)."
)
@click.option("--no-dossiers", is_flag=True, help="Leave out the per-record HTML dossiers (the summary stays).")
@click.option("--zip", "zipped", is_flag=True, help="Also write OUTPUT.zip.")
@click.option("--exporter", default=None, help="Who exports, as the manifest and the export event say [your login].")
@click.option("--signing-key", type=FILE, default=None, help="The log's private key [this database's key].")
@click.option(
    "--key", "keys", type=FILE, multiple=True, help="Verify the log pinned to this public key [the trust file]."
)
@click.option("--trust-file", type=FILE, envvar="LLM_AUDIT_TRUST_FILE", default=None, help="Trust file of pinned keys.")
def export(
    db: Path,
    output: Path,
    use_case: str | None,
    since: str | None,
    until: str | None,
    decision: str | None,
    reviewed: bool | None,
    ids_file: Path | None,
    since_checkpoint: Path | None,
    witnessed: Path | None,
    prove_exclusions: bool,
    open_sealed: bool,
    role: str,
    policy: Path | None,
    no_dossiers: bool,
    zipped: bool,
    exporter: str | None,
    signing_key: Path | None,
    keys: tuple[Path, ...],
    trust_file: Path | None,
) -> None:
    """Write a signed evidence pack of the selected records, checkable offline with `verify-pack`.

    Verifies the log first (refused if it does not verify); the pack holds the records and every
    event about them in canonical JSON Lines (and Parquet), their dossiers and the summary, the
    checkpoint with its signatures, the whole log's index, inclusion proofs, a completeness
    statement and a manifest signed by the log's key. The only database write is one `export` event.

    \b
    Example:
      llm-audit export --db demo.db --use-case credit-decision -o pack
      llm-audit export --db demo.db --decision DECLINE --unreviewed --since 2026-03-01 -o pack --zip
    """
    from ..pack import ExportOptions, Selection

    selection = Selection.build(
        use_case=use_case, since=since, until=until, decision=decision, reviewed=reviewed, ids_file=ids_file
    )
    options = ExportOptions(
        output=output,
        selection=selection,
        exporter=exporter or getpass.getuser(),
        signing_key=signing_key,
        since_checkpoint=since_checkpoint,
        witnessed=witnessed,
        zipped=zipped,
        prove_exclusions=prove_exclusions,
        dossiers=not no_dossiers,
        open_sealed=open_sealed,
        role=role,
    )
    result = make_auditor(db=db, policy=policy).export(options, key=list(keys), trust_file=trust_file)
    click.echo(result.summary())


@main.command("verify-pack")
@click.argument("pack", type=click.Path(path_type=Path))
@click.option("--key", "keys", type=FILE, multiple=True, help="The log's public key (PEM) [the trust file's keys].")
@click.option("--trust-file", type=FILE, envvar="LLM_AUDIT_TRUST_FILE", default=None, help="Trust file of pinned keys.")
@click.option("--witness", "witnesses", multiple=True, help="A witness's verifier key (name+hash+base64); repeatable.")
@click.option("--witnesses", "need", type=int, default=0, help="Require this many valid pinned witness cosignatures.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@click.option("--junit", type=FILE, default=None, help="Also write a JUnit XML report here.")
@click.option(
    "--opened-out", type=FILE, default=None, help="Write the opened sealed content here (JSON Lines), if proven."
)
def verify_pack(
    pack: Path,
    keys: tuple[Path, ...],
    trust_file: Path | None,
    witnesses: tuple[str, ...],
    need: int,
    as_json: bool,
    junit: Path | None,
    opened_out: Path | None,
) -> None:
    """Check an evidence pack offline: exit 0 proven, 1 tampered or incomplete, 2 cannot check.

    The same verifier as the pack's verifier/ (audit/pack/verifier/), pinned to --key,
    else the trust file's keys; prints what is proven and what is not.

    \b
    Example:
      llm-audit verify-pack pack --key signing.pub.pem
      llm-audit verify-pack pack.zip --json --junit pack.xml
    """
    from ..auditor import Auditor

    try:
        result = Auditor.verify_pack(
            pack, key=list(keys), trust_file=trust_file, witnesses=witnesses, need_witnesses=need
        )
    except UserError as exc:
        if as_json:
            click.echo(json.dumps({"ok": None, "cannot_check": str(exc)}))
            sys.exit(2)
        raise
    if junit is not None:
        try:
            junit.write_text(result.junit(), encoding="utf-8")
        except OSError as exc:
            raise UserError(f"cannot write {junit}: {exc.strerror}") from None
    if opened_out is not None and result.ok:
        lines = "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in result.opened)
        try:
            opened_out.write_text(lines, encoding="utf-8")
        except OSError as exc:
            raise UserError(f"cannot write {opened_out}: {exc.strerror}") from None
    click.echo(json.dumps(result.to_dict(), indent=2) if as_json else result.text())
    sys.exit(0 if result.ok else 1)
