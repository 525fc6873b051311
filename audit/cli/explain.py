"""``llm-audit explain``: attribute a recorded output to its input tokens, fields or segments."""
from __future__ import annotations

import warnings
from pathlib import Path

import click

from ..attribution.result import AttributionResult
from ..auditor import Auditor
from .app import db_option, echo_json, json_option, main, model_options

METHODS = ("feature-ablation", "shapley-sampling", "lime", "kernel-shap", "integrated-gradients", "gradient-x-input")


def attribution_summary(result: AttributionResult, top: int = 10) -> str:
    order = sorted(range(len(result.features)), key=lambda j: -abs(float(result.seq_attr[j])))
    width = max([len(repr(result.features[j])) for j in order[:top]] + [7])
    lines = [
        f"explanation {result.id}  record {result.record_id}",
        f"method      {result.method}, {result.granularity} granularity, {len(result.features)} features x "
        f"{len(result.output_tokens)} output tokens, {result.seconds:.2f} s",
        f"params      " + ", ".join(f"{k}={v}" for k, v in result.params.items() if k not in ("target", "captum") and v is not None),
        f"check       recorded vs recomputed log-probabilities: max diff {result.logprob_max_diff:.2e}",
    ]
    if result.convergence_delta:
        lines.append(f"convergence max |delta| {max(abs(d) for d in result.convergence_delta):.2e} (IG approximation error per output token)")
    lines += ["", f"top {min(top, len(order))} features by |attribution| to the whole output (sum of log-probabilities):"]
    for j in order[:top]:
        lines.append(f"  {repr(result.features[j]):{width}}  {float(result.seq_attr[j]):+.4f}")
    return "\n".join(lines)


@main.command()
@click.argument("record_id")
@click.option("--method", default="feature-ablation", show_default=True, help="Attribution method: " + ", ".join(METHODS) + ".")
@click.option("--granularity", default="token", show_default=True,
              help="token (each prompt token), field (each template variable) or segment (each chat message).")
@click.option("--n-steps", type=int, default=None, help="integrated-gradients: integration steps [50].")
@click.option("--n-samples", type=int, default=None, help="shapley-sampling/lime/kernel-shap: samples [25].")
@click.option("--baseline-token", type=int, default=None, help="Token id that replaces an absent token [0, Captum's default].")
@click.option("--perturbation-seed", type=int, default=None, help="Seed of the random perturbations (stochastic methods) [0].")
@click.option("--perturbations-per-eval", type=int, default=None, help="Perturbations scored per batch (perturbation methods) [16].")
@db_option
@model_options
@json_option
def explain(
    record_id: str,
    method: str,
    granularity: str,
    n_steps: int | None,
    n_samples: int | None,
    baseline_token: int | None,
    perturbation_seed: int | None,
    perturbations_per_eval: int | None,
    db: Path,
    model: str | None,
    device: str | None,
    dtype: str | None,
    as_json: bool,
) -> None:
    """Explain a recorded generation: which input features drove each output token. Stored.

    \b
    Example:
      llm-audit explain 01a2259f --granularity field
      llm-audit explain 01a2259f --method integrated-gradients --n-steps 32 --json
    """
    params = {
        "n_steps": n_steps,
        "n_samples": n_samples,
        "baseline_token": baseline_token,
        "perturbation_seed": perturbation_seed,
        "perturbations_per_eval": perturbations_per_eval,
    }
    auditor = Auditor(db=db, model=model, device=device, dtype=dtype)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = auditor.explain(record_id, method=method, granularity=granularity, **{k: v for k, v in params.items() if v is not None})
    for warning in caught:
        if "log-probabilities" in str(warning.message):
            click.echo(f"Warning: {warning.message}", err=True)
    if as_json:
        echo_json(result.to_json_dict())
    else:
        click.echo(attribution_summary(result))
