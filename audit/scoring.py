"""Teacher-forced log-probabilities of a recorded output: the reference every check uses.

Generation stores the log-probability of each chosen token as the model produced it;
attribution, attention and replay recompute them here with one forward pass over
prompt + output and compare. One function, so all of them agree on what "the
log-probability of the recorded output" means: the raw model distribution
(log-softmax of the logits), before temperature, top-k or top-p processing.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

TOP_K = 5


@dataclass
class Scored:
    token_logprobs: list[float]
    top_ids: list[list[int]]
    top_logprobs: list[list[float]]


def logprobs_from_logits(logits: torch.Tensor, chosen: torch.Tensor, k: int = TOP_K) -> Scored:
    """``logits``: (steps, vocab) for the positions that predicted ``chosen`` (steps,)."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    picked = logp.gather(-1, chosen.view(-1, 1)).squeeze(-1)
    top = logp.topk(min(k, logp.shape[-1]), dim=-1)
    return Scored(
        token_logprobs=picked.tolist(),
        top_ids=top.indices.tolist(),
        top_logprobs=top.values.tolist(),
    )


@torch.no_grad()
def teacher_forced(model, input_ids: list[int], output_ids: list[int], k: int = TOP_K) -> Scored:
    """Score ``output_ids`` given ``input_ids`` in one uncached forward pass."""
    device = next(model.parameters()).device
    ids = torch.tensor([list(input_ids) + list(output_ids)], device=device)
    logits = model(input_ids=ids, use_cache=False).logits[0]
    start = len(input_ids) - 1
    return logprobs_from_logits(logits[start : start + len(output_ids)], torch.tensor(output_ids, device=device), k)
