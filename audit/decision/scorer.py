"""The label scorer: log-probability of each label's whole token sequence right after many prompts, batched.

This is the one function every decision number comes from: the probabilities recorded at generation
time, the contrastive score the decision explanations attribute, the replay's comparison, and (for
callers such as counterfactual and protected-attribute checks) any set of edited prompts::

    from audit.decision.scorer import score_labels
    logps = score_labels(model, prompts, label_ids)  # (len(prompts), len(label_ids)) float64, summed log-probs

Three observations make it cheap, the same ones as :class:`audit.attribution.scorer.PrefixCachedScorer`:

* prompts are independent, so they run as one batch;
* a prompt that first differs from the reference prompt at position ``i`` shares the reference's keys
  and values before ``i`` (causal model), so only its suffix is recomputed;
* only the label positions are projected onto the vocabulary.

And one more: every label starts at the same position, so the prompt is run once, not once per label.
The first token of every label is read off the prompt's last position; a label's later tokens (if it
has any) are a short second pass over the prompt's cached keys and values, with a padding mask for
rows whose prompts are shorter than the batch's longest (a template field removed re-tokenises shorter).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from transformers import DynamicCache

from ..attribution.scorer import common_prefix, lm_parts, prefix_cache, target_logprobs


class LabelScorer:
    """Summed log-probabilities of ``label_ids`` (one token sequence per label) after any prompt.

    Built once per reference prompt (one forward, keeping every layer's keys and values); :meth:`score`
    then scores batches of prompts, reusing the prefix each shares with the reference.
    """

    #: rows of one forward start recomputing where the earliest of them differs from the reference; a batch
    #: whose rows first differ from it more than SPREAD positions apart is split into at most about GROUPS
    #: forwards of nearby rows (the results are the same; less of each suffix is recomputed for nothing).
    SPREAD = 8
    GROUPS = 4

    def __init__(
        self, model, reference_ids: Sequence[int], label_ids: Sequence[Sequence[int]], pad_id: int = 0
    ) -> None:
        if not reference_ids:
            raise ValueError("the reference prompt is empty")
        if not label_ids or any(len(ids) == 0 for ids in label_ids):
            raise ValueError("every label needs at least one token")
        self.model = model
        self.decoder, self.head = lm_parts(model)
        self.device = next(model.parameters()).device
        self.reference = list(map(int, reference_ids))
        self.labels = [list(map(int, ids)) for ids in label_ids]
        self.pad_id = int(pad_id)
        self.first = torch.tensor([ids[0] for ids in self.labels], device=self.device)
        with torch.no_grad():
            out = self.decoder(input_ids=torch.tensor([self.reference], device=self.device), use_cache=True)
        self._kv = [(layer.keys, layer.values) for layer in out.cache.layers]
        self.evaluations = 0
        self.unperturbed = self.score([self.reference])[0]  # (n_labels,)
        self.evaluations = 0

    @torch.no_grad()
    def score(self, prompts: Sequence[Sequence[int]]) -> torch.Tensor:
        """(batch, n_labels) summed log-probabilities of each label's tokens after each prompt."""
        starts = [min(common_prefix(p, self.reference), len(p) - 1) for p in prompts]
        order = sorted(range(len(prompts)), key=lambda i: starts[i])
        spread = max(self.SPREAD, (max(starts) - min(starts)) // self.GROUPS)
        groups: list[list[int]] = []
        for i in order:
            if groups and starts[i] - starts[groups[-1][0]] <= spread:
                groups[-1].append(i)
            else:
                groups.append([i])
        if len(groups) == 1:
            return self._score(prompts)
        out: torch.Tensor | None = None
        for group in groups:
            scores = self._score([prompts[i] for i in group])
            if out is None:
                out = torch.empty(len(prompts), scores.shape[1], dtype=scores.dtype, device=scores.device)
            out[torch.tensor(group, device=scores.device)] = scores
        return out

    def _score(self, prompts: Sequence[Sequence[int]]) -> torch.Tensor:
        batch = len(prompts)
        lengths = [len(p) for p in prompts]
        if min(lengths) == 0:
            raise ValueError("a prompt is empty")
        # Positions before ``start`` are the reference's in every row; the last prompt position (which
        # predicts each label's first token) is always recomputed.
        start = min(min(common_prefix(p, self.reference) for p in prompts), min(lengths) - 1)
        width = max(lengths) - start
        ids = torch.full((batch, width), self.pad_id, dtype=torch.long, device=self.device)
        for i, p in enumerate(prompts):
            ids[i, : len(p) - start] = torch.tensor(list(p[start:]), device=self.device)
        longer = any(len(ids) > 1 for ids in self.labels)
        cache = prefix_cache(self._kv, start, batch)
        if cache is None and longer:
            cache = DynamicCache(config=self.model.config)
        positions = torch.arange(start, start + width, device=self.device).unsqueeze(0).expand(batch, -1)
        out = self.decoder(input_ids=ids, cache=cache, position_ids=positions, use_cache=cache is not None)
        last = torch.tensor([n - 1 - start for n in lengths], device=self.device)
        hidden = out.last_hidden_state[torch.arange(batch, device=self.device), last]  # (batch, d)
        logp = torch.log_softmax(self._logits(hidden), dim=-1)
        total = logp[:, self.first].clone()  # (batch, n_labels): each label's first token
        if longer:
            total += self._later_tokens(out.cache, lengths, start + width)
        self.evaluations += batch
        return total

    def _logits(self, hidden: torch.Tensor) -> torch.Tensor:
        logits = self.head(hidden)
        return logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits

    def _later_tokens(self, cache: DynamicCache, lengths: list[int], past: int) -> torch.Tensor:
        """Log-probabilities of each label's tokens after its first, from the prompts' cached keys/values."""
        batch = len(lengths)
        kv = [(layer.keys, layer.values) for layer in cache.layers]
        valid = torch.arange(past, device=self.device).unsqueeze(0) < torch.tensor(
            lengths, device=self.device
        ).unsqueeze(1)
        extra = torch.zeros(batch, len(self.labels), dtype=self._dtype(kv), device=self.device)
        for j, label in enumerate(self.labels):
            if len(label) == 1:
                continue
            feed = torch.tensor(label[:-1], device=self.device).unsqueeze(0).expand(batch, -1)
            m = feed.shape[1]
            mask = torch.cat([valid, torch.ones(batch, m, dtype=torch.bool, device=self.device)], dim=1).long()
            positions = torch.tensor(lengths, device=self.device).unsqueeze(1) + torch.arange(m, device=self.device)
            hidden = self.decoder(
                input_ids=feed,
                cache=DynamicCache(ddp_cache_data=kv),
                attention_mask=mask,
                position_ids=positions,
                use_cache=True,
            ).last_hidden_state
            targets = torch.tensor(label[1:], device=self.device).unsqueeze(0).expand(batch, -1)
            extra[:, j] = target_logprobs(self.head, hidden, targets).sum(1).to(extra.dtype)
        return extra

    @staticmethod
    def _dtype(kv) -> torch.dtype:
        dtype = kv[0][0].dtype
        return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def score_labels(
    model,
    prompts: Sequence[Sequence[int]],
    label_ids: Sequence[Sequence[int]],
    *,
    reference: Sequence[int] | None = None,
    batch_size: int = 16,
    pad_id: int = 0,
) -> np.ndarray:
    """Summed log-probability of each label's token sequence right after each prompt: (n_prompts, n_labels).

    ``prompts``: token ids (e.g. the recorded prompt with a field edited, re-tokenised); ``label_ids``:
    each label's ids as recorded in ``record.decision.label_token_ids``; ``reference``: the prompt whose
    keys and values are cached (default the first prompt: pass the recorded prompt when the others are
    edits of it). Batches of ``batch_size`` prompts, ordered by where they first differ from the reference
    so each batch reuses the longest shared prefix; results come back in the order given. Probabilities
    normalised over the labels are ``scipy.special.softmax(result, axis=1)``.
    """
    if not prompts:
        return np.zeros((0, len(label_ids)))
    scorer = LabelScorer(model, list(reference if reference is not None else prompts[0]), label_ids, pad_id)
    order = sorted(range(len(prompts)), key=lambda i: (common_prefix(prompts[i], scorer.reference), len(prompts[i])))
    out = np.zeros((len(prompts), len(label_ids)), dtype=np.float64)
    for begin in range(0, len(order), batch_size):
        chunk = order[begin : begin + batch_size]
        scores = scorer.score([list(prompts[i]) for i in chunk]).double().cpu().numpy()
        out[chunk] = scores
    return out
