"""Capture raw attention weights of a recorded generation in one teacher-forced forward pass.

The default SDPA kernel never materialises the attention matrix, so it returns no weights.
For this one pass the model is switched to the eager implementation (the same softmax
of ``QK^T`` written out) and switched back afterwards, whatever happens. Eager and SDPA
are mathematically equal but round differently, so the pass also recomputes the recorded
output's log-probabilities and reports the largest difference: weights from a pass that
does not reproduce the record would describe some other computation.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import UserError
from ..scoring import logprobs_from_logits

EAGER = "eager"


@dataclass
class Captured:
    attentions: np.ndarray  # (layers, heads, seq, seq) float32, rows = query positions
    token_logprobs: list[float]  # teacher-forced log-probs of the recorded output (eager pass)
    max_diff: float  # max |eager - recorded| over output tokens


def attn_implementation(model: torch.nn.Module) -> str | None:
    return getattr(model.config, "_attn_implementation", None)


@contextmanager
def eager_attention(model: torch.nn.Module) -> Iterator[None]:
    """Run the body with eager attention; restore the previous implementation on exit."""
    previous = attn_implementation(model)
    if previous == EAGER:
        yield
        return
    model.set_attn_implementation(EAGER)
    try:
        yield
    finally:
        model.set_attn_implementation(previous)


@torch.no_grad()
def capture_attention(
    model: torch.nn.Module, input_ids: list[int], output_ids: list[int], recorded_logprobs: list[float]
) -> Captured:
    """One uncached forward over prompt + output with attention weights returned."""
    device = next(model.parameters()).device
    ids = torch.tensor([list(input_ids) + list(output_ids)], device=device)
    with eager_attention(model):
        out = model(input_ids=ids, use_cache=False, output_attentions=True)
    if not out.attentions or any(a is None for a in out.attentions):
        raise UserError(
            f"{type(model).__name__} returned no attention weights with the eager implementation: "
            "attention maps need a model whose attention implementation can be switched (Llama-style models)"
        )
    start = len(input_ids) - 1
    scored = logprobs_from_logits(out.logits[0, start : start + len(output_ids)], ids[0, len(input_ids) :])
    diffs = np.abs(
        np.asarray(scored.token_logprobs, dtype=np.float64) - np.asarray(recorded_logprobs, dtype=np.float64)
    )
    attentions = torch.stack([a[0] for a in out.attentions]).float().cpu().numpy()
    return Captured(
        attentions=attentions, token_logprobs=scored.token_logprobs, max_diff=float(diffs.max()) if diffs.size else 0.0
    )
