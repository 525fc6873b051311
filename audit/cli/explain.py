"""``llm-audit explain``: attribute a recorded output to its input tokens, fields or segments."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import click

from ..attribution.base import METHODS
from ..attribution.result import AttributionResult
from ..errors import UserError
from .app import db_option, echo_json, json_option, main, make_auditor, model_options
from .batch import batch_exit_code, executor_options, make_executor
from .options import record_filters


def attribution_summary(result: AttributionResult, top: int = 10) -> str:
    order = sorted(range(len(result.features)), key=lambda j: -abs(float(result.seq_attr[j])))
    width = max([len(repr(result.features[j])) for j in order[:top]] + [7])
    target = result.target
    lines = [
        f"explanation {result.id}  record {result.record_id}",
        f"method      {result.method}, {result.granularity} granularity, {len(result.features)} features x "
        f"{len(result.output_tokens)} output tokens, {result.seconds:.2f} s",
        "params      "
        + ", ".join(f"{k}={v}" for k, v in result.params.items() if k not in ("target", "captum") and v is not None),
        f"check       recorded vs recomputed log-probabilities: max diff {result.logprob_max_diff:.2e}",
    ]
    if target.kind == "decision":
        lines.insert(
            2,
            f"target      decision: log p({target.label}) - log p({target.contrast}) = {target.score:+.4f} "
            "(label token sequences at the start of the answer)",
        )
    complete = result.completeness
    if complete is not None:
        lines.append(
            f"complete    attributions sum to {complete['attributed']:+.4f}; the score changes by "
            f"{complete['score_change']:+.4f} with every feature at its baseline (gap {complete['gap']:+.4f})"
        )
    if result.convergence_delta:
        lines.append(
            f"convergence max |delta| {max(abs(d) for d in result.convergence_delta):.2e} (IG approximation error per output token)"
        )
    what = (
        f"the decision score (+: toward {target.label}, -: toward {target.contrast})"
        if target.kind == "decision"
        else "the whole output (sum of log-probabilities)"
    )
    lines += ["", f"top {min(top, len(order))} features by |attribution| to {what}:"]
    for j in order[:top]:
        lines.append(f"  {repr(result.features[j]):{width}}  {float(result.seq_attr[j]):+.4f}")
    return "\n".join(lines)


@main.command()
@click.argument("record_id", required=False)
@click.option(
    "--all", "explain_all", is_flag=True, help="Explain every record not yet explained with this method and parameters."
)
@record_filters
@executor_options
@click.option(
    "--method", default="feature-ablation", show_default=True, help="Attribution method: " + ", ".join(METHODS) + "."
)
@click.option(
    "--granularity",
    default="token",
    show_default=True,
    help="token (each prompt token), field (each template variable) or segment (each chat message).",
)
@click.option(
    "--target",
    type=click.Choice(["decision", "output"]),
    default=None,
    help="decision: log p(chosen) - log p(contrast) of the record's decision [default where it has one]; "
    "output: the recorded text's log-probability [default otherwise].",
)
@click.option(
    "--contrast",
    default=None,
    metavar="LABEL",
    help="With --target decision: the label the decision is contrasted with [the most probable other].",
)
@click.option("--n-steps", type=int, default=None, help="integrated-gradients: integration steps [50].")
@click.option("--n-samples", type=int, default=None, help="shapley-sampling/lime/kernel-shap: samples [25].")
@click.option(
    "--baseline-token", type=int, default=None, help="Token id that replaces an absent token [0, Captum's default]."
)
@click.option(
    "--perturbation-seed", type=int, default=None, help="Seed of the random perturbations (stochastic methods) [0]."
)
@click.option(
    "--perturbations-per-eval",
    type=int,
    default=None,
    help="Perturbations scored per batch (perturbation methods) [16].",
)
@click.option(
    "--allow-model-mismatch",
    is_flag=True,
    help="Explain on a model other than the record's; stored marked as computed on another model.",
)
@db_option
@model_options
@json_option
def explain(
    record_id: str | None,
    explain_all: bool,
    use_case: str | None,
    since: str | None,
    until: str | None,
    executor: str,
    address: str | None,
    workers: int | None,
    cpus_per_worker: float,
    method: str,
    granularity: str,
    target: str | None,
    contrast: str | None,
    n_steps: int | None,
    n_samples: int | None,
    baseline_token: int | None,
    perturbation_seed: int | None,
    perturbations_per_eval: int | None,
    allow_model_mismatch: bool,
    db: Path,
    model: str | None,
    device: str | None,
    dtype: str | None,
    as_json: bool,
) -> None:
    """Explain a recorded generation: which input features drove its decision (records with one) or each
    output token. Stored.

    \b
    Example:
      llm-audit explain 01a2259f --granularity field
      llm-audit explain 01a2259f --method integrated-gradients --n-steps 32 --json
      llm-audit explain 01a2259f --target decision --contrast APPROVE --granularity field
      llm-audit explain 01a2259f --target output
      llm-audit explain --all --use-case credit-decision --granularity field
      llm-audit explain --all --executor ray --address auto --workers 8

    With --all, records already explained with the same method, granularity and
    parameters are skipped, so an interrupted run resumes where it stopped.
    Exit code (--all): 0 all stored, 1 some failed, 130 interrupted.
    """
    if explain_all == (record_id is not None):
        raise UserError(
            "pass either one RECORD_ID or --all: e.g. `llm-audit explain 01a2259f` or `llm-audit explain --all`"
        )
    if explain_all and allow_model_mismatch:
        raise UserError("--allow-model-mismatch applies to one RECORD_ID, not to --all")
    if not explain_all and (use_case or since or until or executor != "in-process" or address or workers):
        raise UserError("--use-case, --since, --until, --executor, --address and --workers only apply with --all")
    params = {
        "target": target,
        "contrast": contrast,
        "n_steps": n_steps,
        "n_samples": n_samples,
        "baseline_token": baseline_token,
        "perturbation_seed": perturbation_seed,
        "perturbations_per_eval": perturbations_per_eval,
    }
    auditor = make_auditor(db=db, model=model, device=device, dtype=dtype)
    if explain_all:
        chosen = make_executor(auditor, executor, address, workers, cpus_per_worker)
        summary = auditor.explain_all(
            use_case=use_case,
            since=since,
            until=until,
            method=method,
            granularity=granularity,
            executor=chosen,
            progress=True,
            **params,
        )
        if as_json:
            echo_json(summary.to_dict())
        else:
            click.echo(summary.table())
        sys.exit(batch_exit_code(summary))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = auditor.explain(
            record_id,
            method=method,
            granularity=granularity,
            allow_model_mismatch=allow_model_mismatch,
            **{k: v for k, v in params.items() if v is not None},
        )
    for warning in caught:
        if "log-probabilities" in str(warning.message):
            click.echo(f"Warning: {warning.message}", err=True)
    if as_json:
        echo_json(result.to_json_dict())
    else:
        click.echo(attribution_summary(result))
