"""Option groups shared by several commands, each with one wording.

``--policy`` (every command that takes a privacy policy reads ``$LLM_AUDIT_POLICY`` when the
option is not given), the record filters ``--use-case/--since/--until``, and the generation
options, which are made from :class:`audit.params.GenerationParams`' fields (the one declaration
of the parameter names) rather than written out here.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

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
