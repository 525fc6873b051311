"""``llm-audit counterfactual`` and ``llm-audit fairness``: re-score recorded decisions with fields changed."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import UserError
from ..fairness.table import counterfactual_table, fairness_table
from .app import db_option, echo_json, json_option, main, make_auditor, model_options
from .batch import executor_options, make_executor
from .options import record_filters


@main.command()
@click.argument("record_id")
@click.option(
    "--vary",
    "vary",
    multiple=True,
    metavar="FIELD=VALUES",
    help="Alternative values of a template field, tried in order: 620,680,720 or a range 600..760/20 (repeatable).",
)
@click.option(
    "--example",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also try the [counterfactuals] of this example TOML (a --vary of the same field wins).",
)
@click.option("--pairs", is_flag=True, help="Also every pair of two fields' values.")
@db_option
@model_options
@json_option
def counterfactual(
    record_id: str,
    vary: tuple[str, ...],
    example: Path | None,
    pairs: bool,
    db: Path,
    model: str | None,
    device: str | None,
    dtype: str | None,
    as_json: bool,
) -> None:
    """Re-score a recorded decision with template fields changed: which changes would have flipped it.

    Scoring only (no generation), on the record's exact template, other fields, label tokens and
    model; per field, the smallest change in the order given that flips the decision. Stored as
    evidence and shown in the record's dossier.

    \b
    Examples:
      llm-audit counterfactual 01a2259f --vary credit_score=620,680,720 --vary income='$55,000'
      llm-audit counterfactual 01a2259f --vary credit_score=600..760/20 --json
      llm-audit counterfactual 01a2259f --example examples/credit_decision.toml --pairs
    """
    auditor = make_auditor(db=db, model=model, device=device, dtype=dtype)
    result = auditor.counterfactual(record_id, list(vary), example=example, pairs=pairs)
    if as_json:
        echo_json(result.to_dict())
    else:
        click.echo(counterfactual_table(result))


@main.command()
@click.option(
    "--swap",
    "swap",
    multiple=True,
    metavar="FIELD=VALUES",
    help="A protected attribute and its values: 25,45,70 (each its own group) or @names.toml ([groups]); repeatable.",
)
@click.option(
    "--example",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also swap the [fairness] attributes of this example TOML.",
)
@record_filters
@executor_options
@db_option
@model_options
@json_option
def fairness(
    swap: tuple[str, ...],
    example: Path | None,
    use_case: str | None,
    since: str | None,
    until: str | None,
    executor: str,
    address: str | None,
    workers: int | None,
    cpus_per_worker: float,
    db: Path,
    model: str | None,
    device: str | None,
    dtype: str | None,
    as_json: bool,
) -> None:
    """Protected-attribute reliance: substitute each value of each attribute into recorded decisions.

    For every matching record whose template has the field, each value is substituted and the
    decision re-scored on the recorded model. Per attribute: the flip rate with a Wilson 95%
    interval, the favourable rate and mean favourable probability per group, the largest gap
    between groups with an exact paired sign test, and the records that flipped. Stored as
    evidence; shown in the summary report and in the dossiers of records that flipped.

    \b
    Examples:
      llm-audit fairness --use-case credit-decision --swap applicant_name=@examples/fairness/names.toml --swap age=25,45,70
      llm-audit fairness --example examples/credit_decision.toml --since 2026-11-01 --json
      llm-audit fairness --use-case credit-decision --swap age=25,45,70 --executor ray --address auto
    """
    if not swap and example is None:
        raise UserError("name what to swap: --swap age=25,45,70 (repeatable) or --example FILE with a [fairness] table")
    auditor = make_auditor(db=db, model=model, device=device, dtype=dtype)
    chosen = make_executor(auditor, executor, address, workers, cpus_per_worker)
    result = auditor.fairness(
        list(swap), example=example, executor=chosen, use_case=use_case, since=since, until=until, progress=True
    )
    if as_json:
        echo_json(result.to_dict())
    else:
        click.echo(fairness_table(result))
