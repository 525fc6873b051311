"""The decision target's two engines: the contrastive score of perturbed prompts, and its gradients.

The score is log p(label) - log p(contrast), each label's whole token sequence right after the prompt.
Perturbation methods score it with the batched, prefix-cached label scorer
(:class:`audit.decision.scorer.LabelScorer`); gradient methods differentiate it with respect to the
prompt's embeddings: each (interpolated) prompt runs once (every label's first token is read at its last
position) and each label's later tokens run on the prompt's keys and values, inside the graph.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import DynamicCache

from ..decision.scorer import LabelScorer
from .scorer import lm_parts, target_logprobs


class ContrastScorer:
    """(batch, 1) contrastive scores of prompts, with the interface of :class:`.scorer.PrefixCachedScorer`."""

    def __init__(
        self,
        model,
        prompt_ids: Sequence[int],
        label_ids: Sequence[int],
        contrast_ids: Sequence[int],
        pad_id: int = 0,
        *,
        shared: LabelScorer | None = None,
        columns: tuple[int, int] = (0, 1),
    ) -> None:
        """``shared``: a label scorer of this prompt already built (over all the decision's labels), whose
        ``columns`` are the label and the contrast: its reference pass is reused, not repeated."""
        if shared is None:
            shared, columns = LabelScorer(model, prompt_ids, [list(label_ids), list(contrast_ids)], pad_id), (0, 1)
        self.labels, self.columns = shared, list(columns)
        self.prompt_ids = self.labels.reference
        self.label_logprobs = self.labels.unperturbed[self.columns]  # (2,): log p(label), log p(contrast)
        self.unperturbed = (self.label_logprobs[0] - self.label_logprobs[1]).view(1)

    @property
    def evaluations(self) -> int:
        return self.labels.evaluations

    @torch.no_grad()
    def score(self, prompts: Sequence[Sequence[int]]) -> torch.Tensor:
        both = self.labels.score(prompts)
        return (both[:, self.columns[0]] - both[:, self.columns[1]]).unsqueeze(1)


class ContrastGradients:
    """The contrastive score and its gradients for batches of (possibly interpolated) prompt embeddings.

    The interface of :class:`.embedding_gradients.EmbeddingGradients` with one row: ``ids`` are the prompt's
    ids (the labels' tokens are appended inside, fixed, never attributed). The prompt runs once per
    interpolation point; each label's later tokens run on its keys and values (differentiable), so a
    second label costs a few positions, not a second prompt.
    """

    def __init__(
        self, model, prompt_ids: Sequence[int], label_ids: Sequence[int], contrast_ids: Sequence[int], pad_id: int = 0
    ) -> None:
        self.model = model
        self.decoder, self.head = lm_parts(model)
        self.embedding = model.get_input_embeddings()
        self.device = next(model.parameters()).device
        self.n_prompt = len(prompt_ids)
        self.ids = torch.tensor([list(prompt_ids)], device=self.device)
        self.sequences = [list(label_ids), list(contrast_ids)]
        with torch.no_grad():  # every label token but the last is fed after the prompt
            self.suffixes = [
                self.embedding(torch.tensor([s[:-1]], device=self.device)) if len(s) > 1 else None
                for s in self.sequences
            ]

    @torch.no_grad()
    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        return self.embedding(ids)

    def _scores(self, embeds: torch.Tensor) -> torch.Tensor:
        batch, n = embeds.shape[0], self.n_prompt
        longer = any(suffix is not None for suffix in self.suffixes)
        out = self.decoder(inputs_embeds=embeds, use_cache=longer)
        logits = self.head(out.last_hidden_state[:, n - 1])
        logp = torch.log_softmax(logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits, -1)
        scores = [logp[:, sequence[0]] for sequence in self.sequences]
        for j, (sequence, suffix) in enumerate(zip(self.sequences, self.suffixes)):
            if suffix is None:
                continue
            kv = [(layer.keys, layer.values) for layer in out.cache.layers]
            hidden = self.decoder(
                inputs_embeds=suffix.to(embeds.dtype).expand(batch, -1, -1),
                cache=DynamicCache(ddp_cache_data=kv),
                use_cache=True,
            ).last_hidden_state
            targets = torch.tensor(sequence[1:], device=self.device).expand(batch, -1)
            scores[j] = scores[j] + target_logprobs(self.head, hidden, targets).sum(1)
        return scores[0] - scores[1]

    @torch.no_grad()
    def logprobs(self, embeds: torch.Tensor) -> torch.Tensor:
        """(batch, 1) contrastive scores, no graph."""
        return self._scores(embeds).unsqueeze(1)

    def gradients(self, embeds: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        """sum_b weights[b] * d score(embeds[b]) / d embeds[b]: (1, seq, dim)."""
        params = [p for p in self.model.parameters() if p.requires_grad]
        for p in params:
            p.requires_grad_(False)
        try:
            with torch.enable_grad():
                x = embeds.detach().requires_grad_(True)
                scores = self._scores(x)
                w = torch.ones_like(scores) if weights is None else weights.to(x.device, scores.dtype)
                (g,) = torch.autograd.grad((scores * w).sum(), x)
        finally:
            for p in params:
                p.requires_grad_(True)
        return g.sum(0, keepdim=True)
