"""``witness init``, ``witness trust``, ``witness cosign``: a witness kept in a folder, over files."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..errors import UserError
from ..integrity.witness import Witness, WitnessRefusal, parse_log_key, parse_proof
from .app import main

FOLDER = click.Path(file_okay=False, path_type=Path)
FILE = click.Path(dir_okay=False, path_type=Path)


def dir_option(func):
    return click.option("--dir", "folder", type=FOLDER, required=True, help="The witness's folder (key and state).")(
        func
    )


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        raise UserError(f"cannot read {what} {path}: pass the file `llm-audit checkpoint` wrote") from None


@main.group()
def witness() -> None:
    """A witness: cosigns a log's checkpoints only when each extends the last one it cosigned (C2SP tlog-cosignature)."""


@witness.command("init")
@click.option("--name", required=True, help="The witness's name, e.g. internal-audit.example/w1.")
@dir_option
def witness_init(name: str, folder: Path) -> None:
    """Make a witness in DIR: its own Ed25519 key; prints its verifier key for `verify --witness-key`.

    \b
    Example:
      llm-audit witness init --name internal-audit.example/w1 --dir witness
    """
    made = Witness.init(folder, name)
    click.echo(f"witness {made.name} in {folder}; its verifier key (also in {folder / 'witness.vkey'}):")
    click.echo(made.vkey)


@witness.command("trust")
@dir_option
@click.option("--origin", required=True, help="The log's origin (`llm-audit key` prints it).")
@click.option("--key", "log_key", required=True, help="The log's public key file (PEM) or its verifier key.")
def witness_trust(folder: Path, origin: str, log_key: str) -> None:
    """Tell the witness the key of the log ORIGIN: it cosigns only checkpoints signed by it.

    \b
    Example:
      llm-audit witness trust --dir witness --origin llm-audit/0123abcd --key demo.db.pub.pem
    """
    key = parse_log_key(log_key, f"--key {log_key}")
    Witness(folder).trust(origin, key)
    click.echo(f"witness in {folder} cosigns checkpoints of {origin} signed by key {key.key_id}")


@witness.command("cosign")
@dir_option
@click.argument("note", type=FILE)
@click.option(
    "--proof", "proof_file", type=FILE, required=True, help="The consistency proof from the last cosigned size."
)
@click.option("--output", type=FILE, default=None, help="Write the cosigned note here [standard output].")
def witness_cosign(folder: Path, note: Path, proof_file: Path, output: Path | None) -> None:
    """Cosign the checkpoint NOTE if PROOF shows it extends the last one cosigned; exit 1 with the reason if not.

    \b
    Example:
      llm-audit witness cosign --dir witness demo.checkpoint --proof demo.proof --output demo.cosigned
    """
    proof = parse_proof(_read(proof_file, "proof"), str(proof_file))
    try:
        cosigned = Witness(folder).cosign(_read(note, "checkpoint"), proof)
    except WitnessRefusal as exc:
        click.echo(f"refused: {exc}", err=True)
        sys.exit(1)
    if output is None:
        click.echo(cosigned, nl=False)
    else:
        output.write_text(cosigned, encoding="utf-8")
        click.echo(f"cosigned: wrote {output}")


@witness.command("serve")
@dir_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8010, show_default=True)
def witness_serve(folder: Path, host: str, port: int) -> None:
    """Serve the witness in DIR over HTTP: POST /add-checkpoint answers the cosigned note, or 409 with the reason.

    \b
    Example:
      llm-audit witness serve --dir witness --port 8010
      llm-audit checkpoint --db demo.db --witness http://127.0.0.1:8010
    """
    from ..web.background import run
    from ..web.witness import witness_app

    app = witness_app(folder)
    click.echo(f"witness {Witness(folder).name} on http://{host}:{port}/add-checkpoint", err=True)
    run(app, host, port)
