"""``llm-audit verify``, ``checkpoint``, ``proof`` and ``verify-proof``: the tamper-evident log."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..auditor import Auditor
from ..integrity.keys import signing_key_path
from ..integrity.signing import load_key
from ..integrity.verify import verify_junit
from ..junit import write_junit
from .app import db_option, echo_json, json_option, main, make_auditor


def key_option(func):
    return click.option(
        "--key",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar="LLM_AUDIT_KEY",
        default=None,
        help="Ed25519 key file (env LLM_AUDIT_KEY) [<db>.key beside the database].",
    )(func)


@main.command()
@db_option
@key_option
@json_option
@click.option(
    "--junit",
    "junit",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write a JUnit XML report here.",
)
def verify(db: Path, key: Path | None, as_json: bool, junit: Path | None) -> None:
    """Check the whole log: exit 0 intact, 1 tampered (first bad seq named), 2 cannot check.

    Recomputes every canonical payload against the component tables, the hash chain,
    every blob's SHA-256, the Merkle root at each checkpoint and its Ed25519 signature.
    Never writes to the database.

    \b
    Example:
      llm-audit verify --db demo.db
      llm-audit verify --db demo.db --key signing.pub.pem --json --junit verify.xml
    """
    result = make_auditor(db=db).verify(key=key)
    if junit is not None:
        write_junit(junit, verify_junit(result))
    if as_json:
        echo_json(result.to_dict())
    else:
        click.echo(result.summary())
        for problem in result.problems[1:10]:
            click.echo(f"  also {problem}")
    sys.exit(0 if result.ok else 1)


@main.command()
@db_option
@key_option
@json_option
@click.option(
    "--public-key",
    "public_out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the public key (PEM) here, for validators.",
)
def checkpoint(db: Path, key: Path | None, as_json: bool, public_out: Path | None) -> None:
    """Sign the log's current size and Merkle root now (a key is created on first use, mode 0600).

    \b
    Example:
      llm-audit checkpoint --db demo.db --public-key demo.pub.pem
    """
    made = make_auditor(db=db).checkpoint(key=key)
    key_path = signing_key_path(db, key)
    if public_out is not None:
        public_out.write_text(load_key(key_path).public_pem(), encoding="utf-8")
    if as_json:
        echo_json({**made.to_dict(), "key_file": str(key_path)})
    else:
        click.echo(
            f"checkpoint {made.id}: {made.tree_size} events, root {made.root_hash}, signed {made.signed_at} by key {made.key_id} ({key_path})"
        )


@main.command()
@click.argument("record_id")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Proof file to write (JSON)."
)
@db_option
def proof(record_id: str, output: Path, db: Path) -> None:
    """Export one record's events, blobs and inclusion proofs against the latest signed checkpoint.

    \b
    Example:
      llm-audit proof 01a2259f-3082-7a9f-ac04-d343f525d3c4 -o applicant.proof.json
    """
    written = make_auditor(db=db).proof(record_id, output)
    click.echo(f"wrote {written}: check it offline with `llm-audit verify-proof {written}`")


@main.command("verify-proof")
@click.argument("proof_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--key",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The public (or private) key you trust; else the key in the file is used.",
)
@json_option
def verify_proof(proof_file: Path, key: Path | None, as_json: bool) -> None:
    """Check a proof file offline: payload hashes, leaf hashes, inclusion paths, signature.

    \b
    Example:
      llm-audit verify-proof applicant.proof.json --key demo.pub.pem
    """
    result = Auditor.verify_proof(proof_file, key=key)
    if as_json:
        echo_json(
            {
                "ok": result.ok,
                "record_id": result.record_id,
                "events": result.events,
                "tree_size": result.tree_size,
                "key_id": result.key_id,
                "key_pinned": result.key_pinned,
                "problems": result.problems,
            }
        )
    else:
        click.echo(result.summary())
    sys.exit(0 if result.ok else 1)
