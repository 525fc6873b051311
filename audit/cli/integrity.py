"""``verify``, ``checkpoint``, ``trust``, ``key``, ``rotate-key``, ``proof``, ``verify-proof``: the tamper-evident log."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..auditor import Auditor
from ..errors import UserError
from ..integrity.verify import verify_junit
from ..junit import write_junit
from .app import db_option, echo_json, json_option, main, make_auditor
from .options import signing_key_option, trusted_key_option

FILE = click.Path(dir_okay=False, path_type=Path)


def trust_file_option(func):
    return click.option(
        "--trust-file",
        type=FILE,
        envvar="LLM_AUDIT_TRUST_FILE",
        default=None,
        help="Trust file of pinned public keys (env LLM_AUDIT_TRUST_FILE) [~/.config/llm-audit/trusted_keys].",
    )(func)


@main.command()
@db_option
@trusted_key_option(
    "Pin to this public (or private) key instead of the trust file; repeatable", multiple=True, name="keys"
)
@trust_file_option
@click.option(
    "--require-signed", is_flag=True, help="Fail (exit 1) if any event comes after the last pinned checkpoint."
)
@click.option(
    "--against",
    "against",
    type=FILE,
    multiple=True,
    help="A checkpoint saved earlier (`checkpoint --export`) the log must extend; repeatable.",
)
@click.option(
    "--witness-key",
    "witness_keys",
    multiple=True,
    help="A witness's verifier key (or a file holding it, e.g. DIR/witness.vkey): hold the log to what it cosigned; repeatable [env LLM_AUDIT_WITNESS_KEYS, PATH-separated].",
)
@click.option(
    "--witnesses", type=click.IntRange(min=0), default=0, help="Require this many trusted witnesses on one checkpoint."
)
@json_option
@click.option(
    "--junit",
    "junit",
    type=FILE,
    default=None,
    help="Also write a JUnit XML report here.",
)
def verify(
    db: Path,
    keys: tuple[Path, ...],
    trust_file: Path | None,
    require_signed: bool,
    against: tuple[Path, ...],
    witness_keys: tuple[str, ...],
    witnesses: int,
    as_json: bool,
    junit: Path | None,
) -> None:
    """Check the whole log: exit 0 intact, 1 tampered (first problem named), 2 cannot check.

    Recomputes every canonical payload against the evidence tables both ways (every row has
    its event and every event its row), the hash chain, every referenced blob, the Merkle
    root at each checkpoint, its Ed25519 signature and its signer. Pinned to the keys of the
    trust file (or --key); unpinned results say so. Never writes to the database.

    \b
    Example:
      llm-audit verify --db demo.db
      llm-audit verify --db demo.db --key signing.pub.pem --require-signed --json --junit verify.xml
      llm-audit verify --db demo.db --against regulator-copy.checkpoint
      llm-audit verify --db demo.db --witnesses 1 --witness-key witness/witness.vkey
    """
    result = make_auditor(db=db).verify(
        key=list(keys),
        trust_file=trust_file,
        require_signed=require_signed,
        against=list(against),
        witness_keys=witness_keys,
        witnesses=witnesses,
    )
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
@signing_key_option
@click.option(
    "--export", type=FILE, default=None, help="Also write it here as a C2SP signed note, for a copy kept elsewhere."
)
@click.option(
    "--public-key",
    "public_out",
    type=FILE,
    default=None,
    help="Also write the public key (PEM) here, for validators and `trust add`.",
)
@click.option(
    "--witness",
    "witness_dir",
    default=None,
    help="Have the witness in this folder, or at this URL (`witness serve`), cosign it (kept in <db>.witnessed/).",
)
@json_option
def checkpoint(
    db: Path,
    signing_key: Path | None,
    export: Path | None,
    public_out: Path | None,
    witness_dir: str | None,
    as_json: bool,
) -> None:
    """Sign the log's current size and Merkle root now (a key is created on first use, in the key directory).

    \b
    Example:
      llm-audit checkpoint --db demo.db --public-key demo.pub.pem
      llm-audit checkpoint --db demo.db --export demo-2026-03-01.checkpoint
      llm-audit checkpoint --db demo.db --witness witness
    """
    if witness_dir is not None and export is not None:
        raise UserError(
            "--witness keeps the cosigned note in <db>.witnessed/; --export is the unwitnessed copy: pass one"
        )
    auditor = make_auditor(db=db)
    done = auditor.checkpoint_witnessed(witness_dir, key=signing_key) if witness_dir is not None else None
    made = done.checkpoint if done is not None else auditor.checkpoint(key=signing_key, export=export)
    info = auditor.signing.info(signing_key)
    if public_out is not None:
        auditor.signing.write_public(public_out, signing_key)
    if as_json:
        echo_json(
            {
                **made.to_dict(),
                "key_file": str(info.path),
                "export": str(export) if export else None,
                "witnessed": done.to_dict() if done else None,
            }
        )
    else:
        click.echo(
            f"checkpoint {made.id}: {made.tree_size} events, root {made.root_hash}, signed {made.signed_at} by key {made.key_id} ({info.path})"
        )
        if done is not None:
            click.echo(
                f"witness {done.witness} cosigned size {done.tree_size} (proven to extend size {done.old_size}): wrote {done.path}"
            )
        if export is not None:
            click.echo(
                f"wrote {export}: keep it elsewhere; `llm-audit verify --against {export}` proves the log extends it"
            )


@main.command("key")
@db_option
@signing_key_option
@click.option("--public-key", "public_out", type=FILE, default=None, help="Write the public key (PEM) here.")
@json_option
def key_command(db: Path, signing_key: Path | None, public_out: Path | None, as_json: bool) -> None:
    """Show where this database's signing key is, its id and public key (never the private key).

    \b
    Example:
      llm-audit key --db demo.db --public-key demo.pub.pem
    """
    auditor = make_auditor(db=db)
    info = auditor.signing.info(signing_key)
    if public_out is not None and info.exists:
        auditor.signing.write_public(public_out, signing_key)
    if as_json:
        echo_json(
            {
                "path": str(info.path),
                "origin": info.origin,
                "exists": info.exists,
                "key_id": info.key_id,
                "public_key_pem": info.public_pem,
                "note_verifier_key": info.note_key,
            }
        )
        return
    if not info.exists:
        click.echo(f"no signing key yet at {info.path} ({info.origin}): the first checkpoint creates it")
        return
    click.echo(f"signing key {info.key_id} at {info.path} ({info.origin})")
    if info.note_key:
        click.echo(f"verifier key of exported checkpoints: {info.note_key}")
    click.echo(info.public_pem.rstrip())


@main.command("rotate-key")
@db_option
@signing_key_option
@click.option(
    "--new-key",
    type=FILE,
    default=None,
    help="The new private key (created if missing) [a new key in the key directory].",
)
@click.option("--public-key", "public_out", type=FILE, default=None, help="Write the new public key (PEM) here.")
@json_option
def rotate_key(
    db: Path, signing_key: Path | None, new_key: Path | None, public_out: Path | None, as_json: bool
) -> None:
    """Hand the log over to a new signing key: a key-transition event signed by the old key and the new one.

    Verifiers that pinned the old key accept the new one from that point on; checkpoints
    by any other key are a tampering.

    \b
    Example:
      llm-audit rotate-key --db demo.db --public-key demo-2027.pub.pem
    """
    auditor = make_auditor(db=db)
    rotation = auditor.signing.rotate(signing_key, new_key)
    if public_out is not None:
        auditor.signing.write_public(public_out, rotation.new_key_file)
    if as_json:
        echo_json(
            {
                **{k: str(v) for k, v in rotation.__dict__.items() if k != "checkpoint"},
                "checkpoint": rotation.checkpoint.to_dict(),
            }
        )
        return
    click.echo(
        f"key {rotation.old_key_id} handed over to {rotation.new_key_id} at seq {rotation.transition_seq} (signed by both); "
        f"checkpoint {rotation.checkpoint.id} signed by the new key ({rotation.new_key_file})"
    )
    if rotation.retired_key_file is not None:
        click.echo(f"the old key is kept at {rotation.retired_key_file}")
    elif new_key is not None:
        click.echo(f"from now on sign with it: set LLM_AUDIT_SIGNING_KEY={new_key}")


@main.group()
def trust() -> None:
    """The trust file: public keys verification is pinned to (kept apart from databases, like known_hosts)."""


@trust.command("add")
@click.argument("key_file", type=FILE)
@click.option("--name", default=None, help="A label for the key [the file name].")
@click.option(
    "--db",
    "for_db",
    type=FILE,
    default=None,
    help="Pin the key for this database's log only (its origin) [every log the key signs].",
)
@trust_file_option
def trust_add(key_file: Path, name: str | None, for_db: Path | None, trust_file: Path | None) -> None:
    """Pin the public key in KEY_FILE (a public or private PEM), for one log (--db) or the logs it signs.

    \b
    Example:
      llm-audit trust add signing.pub.pem --db demo.db --name "pricing-1 2026"
    """
    keyring = make_auditor(db=for_db).signing.with_trust_file(trust_file) if for_db else None
    keyring = keyring or make_auditor().signing.with_trust_file(trust_file)
    entry, added = keyring.trust_add(key_file, name, for_log=for_db is not None)
    state = "trusted" if added else "already trusted"
    scope = f" for log {entry.origin}" if entry.origin else ""
    click.echo(f"{state}: key {entry.key_id} ({entry.name}){scope} in {keyring.trust.path}")


@trust.command("list")
@trust_file_option
@json_option
def trust_list(trust_file: Path | None, as_json: bool) -> None:
    """List the pinned keys.

    \b
    Example:
      llm-audit trust list
    """
    keyring = make_auditor().signing.with_trust_file(trust_file)
    entries = keyring.trust_list()
    if as_json:
        echo_json({"trust_file": str(keyring.trust.path), "keys": [e.__dict__ for e in entries]})
        return
    if not entries:
        click.echo(
            f"no trusted key in {keyring.trust.path}: verification is unpinned (add one with `llm-audit trust add`)"
        )
    for entry in entries:
        click.echo(f"{entry.key_id}  {entry.origin or 'every log it signs'}  {entry.name}")


@trust.command("remove")
@click.argument("key_id")
@trust_file_option
def trust_remove(key_id: str, trust_file: Path | None) -> None:
    """Stop trusting a key (its id, or a prefix of 4+ characters).

    \b
    Example:
      llm-audit trust remove 3f2a9c1b
    """
    keyring = make_auditor().signing.with_trust_file(trust_file)
    entry = keyring.trust_remove(key_id)
    click.echo(f"removed key {entry.key_id} ({entry.name}) from {keyring.trust.path}")


@main.command()
@click.argument("record_id")
@click.option("-o", "--output", type=FILE, required=True, help="Proof file to write (JSON).")
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
@click.argument("proof_file", type=FILE)
@click.option(
    "--key",
    type=FILE,
    default=None,
    help="The public (or private) key you trust [the trust file's keys; else the key in the file, unpinned].",
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
