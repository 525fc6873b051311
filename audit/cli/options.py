"""Option groups shared by several commands, each with one wording.

``--policy`` (every command that takes a privacy policy reads ``$LLM_AUDIT_POLICY`` when the
option is not given), the record filters ``--use-case/--since/--until``, and the generation
options, which are made from :class:`audit.params.GenerationParams`' fields (the one declaration
of the parameter names) rather than written out here; the key options, one environment name per
meaning (``$LLM_AUDIT_SIGNING_KEY`` signs, ``$LLM_AUDIT_TRUSTED_KEY`` pins).
"""

from __future__ import annotations

import os
import typing
import warnings
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

import click

from ..params import GenerationParams

POLICY_HELP = (
    "Privacy policy TOML: PII redacted and sealed on write, and which roles see sealed content in clear "
    "(env LLM_AUDIT_POLICY)."
)


def policy_option(func: Callable) -> Callable:
    return click.option(
        "--policy",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar="LLM_AUDIT_POLICY",
        default=None,
        help=POLICY_HELP,
    )(func)


def record_filters(func: Callable) -> Callable:
    """``--use-case/--since/--until``: which records a command reads (UTC ISO dates or times)."""
    func = click.option("--until", default=None, help="Only records started before this UTC date/time.")(func)
    func = click.option(
        "--since", default=None, help="Only records started at or after this UTC date/time (e.g. 2026-11-01)."
    )(func)
    return click.option("--use-case", default=None, help="Only records of this use case.")(func)


def _click_type(annotation: object) -> type:
    """``int | None`` -> ``int``: the one non-None type of a parameter's annotation."""
    (kind,) = [t for t in typing.get_args(annotation) if t is not type(None)]
    return kind


def generation_options(func: Callable) -> Callable:
    """One option per generation parameter the CLI offers (``--max-new-tokens``, ``--do-sample/--greedy``, ...),
    in the declaration's order; ``None`` (not given) keeps the model's default."""
    hints = typing.get_type_hints(GenerationParams)
    for param in reversed(fields(GenerationParams)):
        meta = param.metadata
        if not meta["cli"]:
            continue
        kind = _click_type(hints[param.name])
        if kind is bool:
            func = click.option(meta["flag"], param.name, default=None, help=meta["help"])(func)
        else:
            name = "--" + param.name.replace("_", "-")
            func = click.option(name, param.name, type=kind, default=None, help=meta["help"])(func)
    return func


def generation_params(values: dict[str, object]) -> dict[str, object]:
    """The generation options a command was given (by parameter name), for ``Auditor.generate``."""
    names = {param.name for param in fields(GenerationParams) if param.metadata["cli"]}
    return {name: values[name] for name in names if values.get(name) is not None}


# Keys: one environment name per meaning. $LLM_AUDIT_KEY named the signing key for the commands that
# sign and the pinned key for `verify` and `ui`, so a shell set up to sign also pinned verification to
# its own signing key. Now $LLM_AUDIT_SIGNING_KEY signs and $LLM_AUDIT_TRUSTED_KEY pins; the old name is
# read only where what it holds says which it meant, always with a warning naming the new one.
SIGNING_KEY_ENV = "LLM_AUDIT_SIGNING_KEY"
TRUSTED_KEY_ENV = "LLM_AUDIT_TRUSTED_KEY"
OLD_KEY_ENV = "LLM_AUDIT_KEY"


class KeyEnvironmentWarning(UserWarning):
    """``$LLM_AUDIT_KEY`` is set: deprecated, and for a pin only honoured when it holds a public key."""


def _holds_private_key(path: Path) -> bool:
    try:
        return b"PRIVATE KEY" in path.read_bytes()[:4096]
    except OSError:
        return False


def _signing_key_from_old_env(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """The signing key still falls back to ``$LLM_AUDIT_KEY`` (read by the key lookup), with a warning."""
    old = os.environ.get(OLD_KEY_ENV)
    if value is None and old and not os.environ.get(SIGNING_KEY_ENV):
        warnings.warn(
            f"${OLD_KEY_ENV} is deprecated (it also named the pinned key): read as the signing key here; "
            f"rename it ${SIGNING_KEY_ENV}",
            KeyEnvironmentWarning,
            stacklevel=2,
        )
    return value


def _pins_from_old_env(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """``--key`` / ``$LLM_AUDIT_TRUSTED_KEY``, else ``$LLM_AUDIT_KEY`` only when it holds a public key.

    A private key there is the signing key of the commands that sign: pinning verification to it
    would trust whatever that key signed, so it is not read as a pin, and the warning says so.
    """
    old = os.environ.get(OLD_KEY_ENV)
    if value or not old:
        return value
    path = Path(old)
    if _holds_private_key(path):
        warnings.warn(
            f"${OLD_KEY_ENV} holds a private key (a signing key), so it is not read as the pinned key: "
            f"pin with --key or ${TRUSTED_KEY_ENV} set to the public key you trust",
            KeyEnvironmentWarning,
            stacklevel=2,
        )
        return value
    warnings.warn(
        f"${OLD_KEY_ENV} is deprecated (it also named the signing key): read as the pinned key here; "
        f"rename it ${TRUSTED_KEY_ENV}",
        KeyEnvironmentWarning,
        stacklevel=2,
    )
    return (path,) if param.multiple else path


def signing_key_option(func: Callable) -> Callable:
    """``--signing-key`` (alias ``--key``): the private key a command signs with."""
    return click.option(
        "--signing-key",
        "--key",
        "signing_key",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        callback=_signing_key_from_old_env,
        help=f"Private signing key [${SIGNING_KEY_ENV}, else this database's key in ~/.config/llm-audit/keys/].",
    )(func)


def trusted_key_option(help: str, *, multiple: bool = False, name: str = "key") -> Callable[[Callable], Callable]:
    """``--key``: the public key to pin instead of the trust file (env ``LLM_AUDIT_TRUSTED_KEY``)."""

    def decorate(func: Callable) -> Callable:
        return click.option(
            "--key",
            name,
            type=click.Path(dir_okay=False, path_type=Path),
            multiple=multiple,
            envvar=TRUSTED_KEY_ENV,
            default=None,
            callback=_pins_from_old_env,
            help=f"{help} (env {TRUSTED_KEY_ENV}).",
        )(func)

    return decorate
