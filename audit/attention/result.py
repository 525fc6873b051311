"""The output of one attention analysis, as stored and shown."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class AttentionResult:
    """Attention over prompt + output for one record.

    Token positions run over the whole sequence (input then output); ``n_input`` splits
    them. ``rollout`` is already the output x input block a report shows.
    """

    record_id: str
    tokens: list[str]  # prompt + output tokens, decoded one by one
    n_input: int
    layers: int
    heads: int
    layer_mean: np.ndarray  # (layers, seq, seq): mean over heads
    layer_max: np.ndarray  # (layers, seq, seq): max over heads
    rollout: np.ndarray  # (n_output, n_input): attention rollout, output rows over input columns
    head_importance: np.ndarray  # (layers, heads)
    head_importance_method: str
    seconds: float
    logprob_max_diff: float | None = None  # eager pass vs recorded log-probs
    stored_bytes: int | None = None
    per_head: np.ndarray | None = None  # (layers, heads, seq, seq), only with --heads
    id: str | None = None
    created_at: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def n_output(self) -> int:
        return len(self.tokens) - self.n_input

    def top_heads(self, k: int = 5) -> list[tuple[int, int, float]]:
        """``(layer, head, importance)`` of the ``k`` heads with the largest |importance|."""
        flat = np.argsort(-np.abs(self.head_importance), axis=None, kind="stable")[:k]
        return [
            (int(layer), int(h), float(self.head_importance[layer, h]))
            for layer, h in zip(*np.unravel_index(flat, self.head_importance.shape))
        ]
