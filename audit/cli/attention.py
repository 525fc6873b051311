"""``llm-audit attention``: attention maps, rollout and head importance of one record."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from ..attention import AttentionResult
from ..tolerances import REPLAY_TOLERANCE
from .app import db_option, echo_json, json_option, main, make_auditor, model_options


def _shown(token: str) -> str:
    return repr(token)[1:-1][:14]


def _significant(array: np.ndarray, digits: int = 6) -> list:
    """Nested lists of floats with ``digits`` significant digits: rollout entries span 1 to 1e-7."""
    return np.vectorize(lambda v: float(f"{v:.{digits}g}"), otypes=[float])(
        np.asarray(array, dtype=np.float64)
    ).tolist()


def attention_json(result: AttentionResult) -> dict:
    """The ``--json`` object: the issue's keys first, then what a script needs to read them."""
    return {
        "record_id": result.record_id,
        "tokens": result.tokens,
        "layers": result.layers,
        "heads": result.heads,
        "rollout": _significant(result.rollout),
        "head_importance": _significant(result.head_importance),
        "stored_bytes": result.stored_bytes,
        "id": result.id,
        "created_at": result.created_at,
        "n_input": result.n_input,
        "n_output": result.n_output,
        "head_importance_method": result.head_importance_method,
        "logprob_max_diff": result.logprob_max_diff,
        "seconds": result.seconds,
        "per_head_stored": result.per_head is not None,
    }


def attention_text(result: AttentionResult, rows: int = 12) -> str:
    lines = [
        f"attention  {result.id}  for record {result.record_id}",
        f"tokens     {result.n_input} input + {result.n_output} output   {result.layers} layers x {result.heads} heads",
        f"stored     {result.stored_bytes:,} bytes (float16, compressed{', with per-head maps' if result.per_head is not None else ''})",
        f"check      eager log-probs vs recorded: max diff {result.logprob_max_diff:.1e}   computed in {result.seconds:.2f} s",
        f"heads      {result.head_importance_method}; most important (layer.head: d sum log-prob / d gate):",
    ]
    lines.append("           " + "   ".join(f"L{layer}.H{h} {v:+.3f}" for layer, h, v in result.top_heads(5)))
    lines.append("rollout    share of attention flow on the first token (sink), then the prompt tokens")
    lines.append("           that took most of the rest (% of the non-sink prompt share):")
    inputs = result.tokens[: result.n_input]
    for t, row in enumerate(np.asarray(result.rollout, dtype=np.float64)[:rows]):
        rest = row[1:]
        best = np.argsort(-rest, kind="stable")[:3] + 1
        total = rest.sum()
        shown = "  ".join(f"{_shown(inputs[i])}@{i} {100 * row[i] / total:.0f}%" for i in best) if total > 0 else "-"
        lines.append(f"  {_shown(result.tokens[result.n_input + t]):>14}  <- sink {row[0]:.4f}  {shown}")
    if result.n_output > rows:
        lines.append(f"  ... {result.n_output - rows} more output tokens (--json for all)")
    return "\n".join(lines)


@main.command()
@click.argument("record_id")
@click.option("--heads", is_flag=True, help="Also store per-head maps (layers x heads x seq^2; large).")
@click.option(
    "--tolerance",
    type=float,
    default=REPLAY_TOLERANCE,
    show_default=True,
    help="Max |eager - recorded| log-prob accepted.",
)
@db_option
@model_options
@json_option
def attention(
    record_id: str,
    heads: bool,
    tolerance: float,
    db: Path,
    model: str | None,
    device: str | None,
    dtype: str | None,
    as_json: bool,
) -> None:
    """Capture, aggregate and store the attention of a recorded generation.

    Stores per-layer head-mean and head-max maps in float16 (per-head maps only with
    --heads), the attention rollout (output x input) and head importance computed with
    Captum (gradient x head mask).

    \b
    Example:
      llm-audit attention 01a2259f-3082-7a9f-ac04-d343f525d3c4 --json
    """
    result = make_auditor(db=db, model=model, device=device, dtype=dtype).attention(
        record_id, heads=heads, tolerance=tolerance
    )
    if as_json:
        echo_json(attention_json(result))
    else:
        click.echo(attention_text(result))
