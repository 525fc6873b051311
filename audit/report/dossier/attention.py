"""The attention section (``attention.html.j2``): rollout without the attention sink, per-layer thumbnails, heads."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...attention.result import AttentionResult
from ...record import GenerationRecord
from ..heatmap import Heatmap, Thumbnail, matrix_heatmap, thumbnail


@dataclass
class Attention:
    missing: str | None
    rollout: Heatmap | None = None
    rollout_note: str = ""  # how the map was derived (first token left out, rows renormalised)
    thumbnails: list[Thumbnail] = field(default_factory=list)
    heads: Heatmap | None = None
    head_method: str = ""
    layers: int = 0
    head_count: int = 0


def rollout_without_first(rollout: np.ndarray) -> tuple[np.ndarray, float]:
    """The rollout block with the first input token left out and each row renormalised to sum to 1, and the
    first token's mean share of a row before (about 0.999 in SmolLM2: the attention sink, not information)."""
    totals = rollout.sum(axis=1, keepdims=True)
    first = float(np.mean(rollout[:, 0] / np.where(totals[:, 0] > 0, totals[:, 0], 1.0))) if rollout.size else 0.0
    rest = rollout[:, 1:]
    sums = rest.sum(axis=1, keepdims=True)
    return rest / np.where(sums > 0, sums, 1.0), first


def attention_section(result: AttentionResult | None, record: GenerationRecord) -> Attention:
    record_id = record.id
    if result is None:
        return Attention(
            missing=f"No attention analysis has been computed for this record. Run: llm-audit attention {record_id}"
        )
    inputs = list(result.tokens[: result.n_input])
    outputs = list(result.tokens[result.n_input :])
    rollout = np.asarray(result.rollout, dtype=np.float64)
    rows = outputs[: rollout.shape[0]]
    if record.decision is not None and rows:
        rows[0] = f"{rows[0]} ← decision"  # the position predicting the answer's first token scored the labels
    note = "Rows are output tokens, columns input tokens."
    if rollout.shape[1] > 1:
        rollout, first = rollout_without_first(rollout)
        inputs = inputs[1:]
        note = (
            f"The first input token is left out: it held on average {first:.4f} of each row (an attention sink, "
            "which carries no information about the input), and each row is renormalised to sum to 1 over the "
            "remaining input tokens, so the map shows how the rest is shared."
        )
    if record.decision is not None:
        note += (
            " The row marked ← decision is the position at which the decision was scored (it predicts the "
            "answer's first token, where every label starts)."
        )
    rollout_map = matrix_heatmap(
        rollout,
        rows,
        inputs[: rollout.shape[1]],
        scale="sequential",
        row_axis="output token",
        col_axis="input token",
        value_name="rollout share",
    )
    layer_mean = np.asarray(result.layer_mean, dtype=np.float64)
    thumbs = [thumbnail(layer_mean[i], f"Layer {i + 1}") for i in range(layer_mean.shape[0])]
    importance = np.asarray(result.head_importance, dtype=np.float64)
    scale = "diverging" if (importance < 0).any() else "sequential"
    heads = matrix_heatmap(
        importance,
        [f"L{i + 1}" for i in range(importance.shape[0])],
        [f"H{j + 1}" for j in range(importance.shape[1])],
        scale=scale,
        row_axis="layer",
        col_axis="head",
        max_cell=26.0,
        width=360,
        value_name="importance",
    )
    return Attention(None, rollout_map, note, thumbs, heads, result.head_importance_method, result.layers, result.heads)
