"""Aggregations of captured attention: over heads, across layers (rollout), and the report block.

Pure numpy on arrays shaped ``(layers, heads, seq, seq)`` (rows are query positions,
columns key positions), so every number here can be checked by hand without a model.
"""

from __future__ import annotations

import numpy as np


def head_mean(attentions: np.ndarray) -> np.ndarray:
    """``(layers, heads, seq, seq) -> (layers, seq, seq)``: what the layer attends to on average."""
    return attentions.mean(axis=1)


def head_max(attentions: np.ndarray) -> np.ndarray:
    """``(layers, heads, seq, seq) -> (layers, seq, seq)``: shows a link one head makes strongly,
    which the mean dilutes by the number of heads."""
    return attentions.max(axis=1)


def rollout(layer_maps: np.ndarray, residual_weight: float = 0.5) -> np.ndarray:
    """Attention rollout (Abnar & Zuidema 2020, "Quantifying Attention Flow in Transformers").

    Raw attention of one layer ignores that every block adds its input back (the residual
    connection), so information also flows straight through. Rollout models that as
    ``A' = (1 - w) A + w I`` with ``w = 0.5`` as in the paper, renormalises each row to
    sum to 1 and multiplies the layers from the first upwards: ``R = A'_L ... A'_2 A'_1``.
    Row ``i`` of ``R`` is then how much each position's input embedding flows into
    position ``i`` at the top of the network. Computed in float64: 30 layer products in
    float32 lose the small entries a report sorts by.

    ``layer_maps``: ``(layers, seq, seq)``, usually the head mean of each layer.
    """
    if layer_maps.ndim != 3 or layer_maps.shape[1] != layer_maps.shape[2]:
        raise ValueError(f"expected (layers, seq, seq), got {layer_maps.shape}")
    seq = layer_maps.shape[1]
    identity = np.eye(seq)
    result = identity.copy()
    for layer in layer_maps.astype(np.float64):
        mixed = (1.0 - residual_weight) * layer + residual_weight * identity
        mixed /= mixed.sum(axis=-1, keepdims=True)
        result = mixed @ result
    return result


def output_rows(n_input: int, n_output: int) -> slice:
    """Query positions at which each output token was predicted.

    A causal LM predicts output token ``t`` at position ``n_input - 1 + t`` (the token
    before it), so that row, not the row of the output token itself, is what the model
    attended to *while producing* it.
    """
    return slice(n_input - 1, n_input - 1 + n_output)


def output_input_block(matrix: np.ndarray, n_input: int, n_output: int) -> np.ndarray:
    """``(..., seq, seq) -> (..., n_output, n_input)``: output tokens over prompt tokens.

    Rows do not sum to 1: the remainder went to output tokens generated earlier.
    """
    return matrix[..., output_rows(n_input, n_output), :n_input]
