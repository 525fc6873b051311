"""Fast teacher-forced scoring of perturbed prompts: the forward function of every perturbation method.

Captum's ``LLMAttribution`` runs one unbatched forward over prompt + target per perturbation and
projects every position onto the vocabulary. Three observations make the same numbers much cheaper:

* perturbations are independent, so they run as one batch (``perturbations_per_eval``);
* an ablation that first changes the prompt at position ``i`` leaves every position before ``i``
  unchanged in a causal model, so the keys/values of the unperturbed sequence up to ``i`` are reused
  and only the suffix is recomputed;
* only the positions that predict a recorded output token are projected onto the vocabulary.

Rows of one batch may differ in length (a template field replaced by its baseline re-tokenises to a
shorter prompt): they are right-padded, which a causal model never attends to from real positions.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import DynamicCache


def lm_parts(model) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(decoder stack returning final hidden states, vocabulary projection)."""
    decoder = model.get_decoder() if hasattr(model, "get_decoder") else model.model
    head = model.get_output_embeddings()
    if decoder is None or head is None:
        raise TypeError(f"{type(model).__name__} has no decoder/output projection to score with")
    return decoder, head


def target_logprobs(head: torch.nn.Module, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Log-probabilities of ``targets`` (..., n) from final hidden states (..., n, d).

    Half-precision logits are widened to float32 for the softmax; float32 and float64 keep their own
    precision (an unconditional ``.float()`` once capped float64 runs at float32 precision, which is what
    made integrated gradients differ from Captum's in float64, see docs/attribution.md).
    """
    logits = head(hidden)
    logp = torch.log_softmax(logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits, dim=-1)
    return logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def prefix_cache(kv: Sequence[tuple[torch.Tensor, torch.Tensor]], start: int, batch: int) -> DynamicCache | None:
    """The first ``start`` positions of a reference pass's keys and values, shared by ``batch`` rows (none at 0).

    The one prefix cache of both scorers (output and decision): rows that agree with the reference
    up to ``start`` reuse its layers' keys and values instead of recomputing them.
    """
    if start == 0:
        return None
    data = [(k[:, :, :start].expand(batch, -1, -1, -1), v[:, :, :start].expand(batch, -1, -1, -1)) for k, v in kv]
    return DynamicCache(ddp_cache_data=data)


class PrefixCachedScorer:
    """Log-probabilities of the recorded output ids after any perturbed prompt.

    Built once per explanation: one forward over the unperturbed prompt + output keeps every
    layer's keys and values; :meth:`score` then reuses the unchanged prefix of each batch.
    """

    def __init__(self, model, prompt_ids: Sequence[int], output_ids: Sequence[int], pad_id: int = 0) -> None:
        self.model = model
        self.decoder, self.head = lm_parts(model)
        self.device = next(model.parameters()).device
        self.prompt_ids = list(map(int, prompt_ids))
        self.output_ids = list(map(int, output_ids))
        self.pad_id = int(pad_id)
        self.targets = torch.tensor(self.output_ids, device=self.device)
        full = torch.tensor([self.prompt_ids + self.output_ids], device=self.device)
        with torch.no_grad():
            out = self.decoder(input_ids=full, use_cache=True)
        cache = out.cache
        self._kv = [(layer.keys, layer.values) for layer in cache.layers]
        n = len(self.prompt_ids)
        hidden = out.last_hidden_state[0, n - 1 : n - 1 + len(self.output_ids)]
        with torch.no_grad():
            self.unperturbed = target_logprobs(self.head, hidden, self.targets)
        self.evaluations = 0

    @torch.no_grad()
    def score(self, prompts: Sequence[Sequence[int]]) -> torch.Tensor:
        """(batch, n_output) log-probabilities of the recorded output ids after each prompt."""
        batch = len(prompts)
        lengths = [len(p) for p in prompts]
        # Positions before ``start`` are identical to the unperturbed sequence in every row; the
        # position predicting the first output token (length - 1) must always be recomputed.
        start = min(min(common_prefix(p, self.prompt_ids) for p in prompts), min(lengths) - 1)
        rows = [list(p[start:]) + self.output_ids for p in prompts]
        width = max(len(r) for r in rows)
        ids = torch.full((batch, width), self.pad_id, dtype=torch.long, device=self.device)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row, device=self.device)
        cache = prefix_cache(self._kv, start, batch)
        position_ids = torch.arange(start, start + width, device=self.device).unsqueeze(0).expand(batch, -1)
        hidden = self.decoder(
            input_ids=ids, cache=cache, position_ids=position_ids, use_cache=cache is not None
        ).last_hidden_state
        n_out = len(self.output_ids)
        offsets = torch.tensor([length - 1 - start for length in lengths], device=self.device)
        index = offsets.unsqueeze(1) + torch.arange(n_out, device=self.device).unsqueeze(0)  # (batch, n_out)
        picked = hidden.gather(1, index.unsqueeze(-1).expand(-1, -1, hidden.shape[-1]))
        self.evaluations += batch
        return target_logprobs(self.head, picked, self.targets.expand(batch, -1))
