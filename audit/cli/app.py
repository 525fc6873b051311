"""The click group and the shared options every command takes."""

from __future__ import annotations

import json
import logging
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..errors import UserError

if TYPE_CHECKING:
    from ..auditor import Auditor


def _one_line_warning(message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
    click.echo(f"Warning: {message}", err=True)


class _ProgressLines(logging.Handler):
    """The ``audit.progress`` messages (:mod:`audit.progress`) as lines on stderr, while a command runs."""

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(self.format(record), err=True)


class AuditGroup(click.Group):
    """Turns :class:`UserError` into one line on stderr and exit code 2, never a traceback; warnings into one line;
    shows progress on stderr (a bar on a terminal, plain lines elsewhere)."""

    def invoke(self, ctx: click.Context) -> Any:
        progress, handler = logging.getLogger("audit.progress"), _ProgressLines()
        level = progress.level
        progress.addHandler(handler)
        progress.setLevel(logging.INFO)
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warning
            try:
                return super().invoke(ctx)
            except UserError as exc:
                click.echo(f"Error: {exc}", err=True)
                sys.exit(exc.exit_code)
            except KeyboardInterrupt:
                click.echo("Interrupted: nothing partial was stored.", err=True)
                sys.exit(130)
            finally:
                progress.removeHandler(handler)
                progress.setLevel(level)


def _check_key_store(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """Refuse to start if the key store (this option, else ``$LLM_AUDIT_KEY_STORE``) is readable by others."""
    import os

    from ..privacy.keystore import ENV_PATH, check_permissions

    given = value or (Path(os.environ[ENV_PATH]) if os.environ.get(ENV_PATH) else None)
    if given is not None:
        try:
            check_permissions(given)
        except UserError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(exc.exit_code)
    return value


def key_store_option(func: Callable) -> Callable:
    return click.option(
        "--key-store",
        "key_store",
        type=click.Path(dir_okay=False, path_type=Path),
        callback=_check_key_store,
        is_eager=True,
        help="Key store of sealed records (env LLM_AUDIT_KEY_STORE) [<db>.keys.json]; must be mode 0600.",
    )(func)


def make_auditor(*, key_store: Path | None = None, **settings: Any) -> Auditor:
    """The Auditor a command works through; a ``--key-store`` given before the command name reaches it too."""
    from ..auditor import Auditor

    root = click.get_current_context().find_root()
    return Auditor(key_store=key_store or root.params.get("key_store"), **settings)


@click.group(cls=AuditGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="llm-audit")
@key_store_option
def main(key_store: Path | None) -> None:
    """Record, explain, report and reproduce LLM generations for audit.

    Database: --db, else $LLM_AUDIT_DB, else ./llm-audit.db.
    Model: --model (a local Hugging Face folder or hub id), else the embedded SmolLM2-135M-Instruct.
    Key store (sealed records): --key-store, else $LLM_AUDIT_KEY_STORE, else <db>.keys.json.
    """


def db_option(func: Callable) -> Callable:
    return click.option(
        "--db",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar="LLM_AUDIT_DB",
        default="llm-audit.db",
        show_default=True,
        help="Audit database (env LLM_AUDIT_DB).",
    )(func)


def model_options(func: Callable) -> Callable:
    func = click.option(
        "--dtype", type=click.Choice(["float32", "bfloat16", "float16"]), default=None, help="Model dtype [float32]."
    )(func)
    func = click.option("--device", default=None, help="cpu, cuda, cuda:N or auto [auto].")(func)
    func = click.option("--model", "model", default=None, help="Model folder or hub id [smollm2-135m-instruct].")(func)
    return func


def json_option(func: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")(func)


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def read_text_file(path: Path, what: str) -> str:
    """A text file the user names: UTF-8, or one line saying where it is not."""
    try:
        return path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise UserError(f"cannot read {what} {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise UserError(
            f"{what} {path} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}): save it as UTF-8"
        ) from None


def parse_json_arg(value: str, what: str) -> Any:
    """Parse ``value`` as JSON, or as the contents of a file if it starts with ``@``."""
    text = value
    if value.startswith("@"):
        text = read_text_file(Path(value[1:]), f"{what} file")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UserError(
            f"{what} is not valid JSON ({exc.msg} at char {exc.pos}): pass a JSON value or @file.json"
        ) from None
