"""One attention analysis of a recorded generation: capture, aggregate, attribute heads.

Takes a loaded model and a record, returns an :class:`AttentionResult` in full precision
(float32 maps); storing it (and rounding to float16) is :mod:`audit.store.attention`'s job.
"""

from __future__ import annotations

import time

import numpy as np

from ..model import LoadedModel
from ..record import GenerationRecord
from .aggregate import head_max, head_mean, output_input_block, rollout
from .capture import EAGER, capture_attention
from .heads import METHOD, head_importance
from .result import AttentionResult

RESIDUAL_WEIGHT = 0.5


def analyse_attention(loaded: LoadedModel, record: GenerationRecord, *, heads: bool = False) -> AttentionResult:
    """Attention maps, rollout and head importance for ``record`` on ``loaded``'s model."""
    started = time.perf_counter()
    captured = capture_attention(loaded.model, record.input_ids, record.output_ids, record.token_logprobs)
    layer_mean = head_mean(captured.attentions)
    layer_max = head_max(captured.attentions)
    rolled = rollout(layer_mean, RESIDUAL_WEIGHT)
    importance = head_importance(loaded.model, record.input_ids, record.output_ids)
    seconds = time.perf_counter() - started
    tokenizer = loaded.tokenizer
    layers, n_heads = captured.attentions.shape[:2]
    return AttentionResult(
        record_id=record.id,
        tokens=[tokenizer.decode([int(i)]) for i in list(record.input_ids) + list(record.output_ids)],
        n_input=len(record.input_ids),
        layers=int(layers),
        heads=int(n_heads),
        layer_mean=layer_mean.astype(np.float32),
        layer_max=layer_max.astype(np.float32),
        rollout=output_input_block(rolled, len(record.input_ids), len(record.output_ids)).astype(np.float32),
        head_importance=importance.astype(np.float32),
        head_importance_method=METHOD,
        seconds=round(seconds, 4),
        logprob_max_diff=captured.max_diff,
        per_head=captured.attentions if heads else None,
        extra={
            "capture_attn_implementation": EAGER,
            "rollout_residual_weight": RESIDUAL_WEIGHT,
            "rollout_rows": "row t = position n_input-1+t, where output token t was predicted",
            "head_importance_target": "sum of recorded output log-probs (teacher forcing, raw log-softmax)",
        },
    )
