"""Gradients of every recorded output token's log-probability w.r.t. the input embeddings, in one forward.

Captum's ``LLMGradientAttribution`` runs a forward and a backward over the whole interpolation
batch once per output token, each projecting every position onto the vocabulary. In a causal model
the log-probability of output token ``t`` only depends on positions before it, so one forward over
prompt + all recorded outputs yields every target at once; the per-target backward passes then
share that graph (vectorised with ``is_grads_batched`` where autograd supports it).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .scorer import lm_parts, target_logprobs


class EmbeddingGradients:
    """Log-probabilities and their gradients for batches of (possibly interpolated) input embeddings."""

    def __init__(self, model, prompt_ids: Sequence[int], output_ids: Sequence[int]) -> None:
        self.model = model
        self.decoder, self.head = lm_parts(model)
        self.embedding = model.get_input_embeddings()
        self.device = next(model.parameters()).device
        self.n_prompt = len(prompt_ids)
        self.n_out = len(output_ids)
        self.ids = torch.tensor([list(prompt_ids) + list(output_ids)], device=self.device)
        self.targets = torch.tensor(list(output_ids), device=self.device)
        self.batched = True  # falls back to a loop of backward passes if vmap cannot batch an op

    @torch.no_grad()
    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        return self.embedding(ids)

    def _logprobs(self, embeds: torch.Tensor) -> torch.Tensor:
        hidden = self.decoder(inputs_embeds=embeds, use_cache=False).last_hidden_state
        picked = hidden[:, self.n_prompt - 1 : self.n_prompt - 1 + self.n_out]
        return target_logprobs(self.head, picked, self.targets.expand(embeds.shape[0], -1))

    @torch.no_grad()
    def logprobs(self, embeds: torch.Tensor) -> torch.Tensor:
        """(batch, n_out) log-probabilities, no graph."""
        return self._logprobs(embeds)

    def gradients(self, embeds: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        """sum_b weights[b] * d logp_t(embeds[b]) / d embeds[b], for every output token t.

        Returns (n_out, seq, dim): the weighted sum over the batch (IG's Riemann/Gauss-Legendre
        sum, or the plain gradient for a batch of one).
        """
        params = [p for p in self.model.parameters() if p.requires_grad]
        for p in params:
            p.requires_grad_(False)
        try:
            with torch.enable_grad():
                x = embeds.detach().requires_grad_(True)
                logp = self._logprobs(x)  # (batch, n_out)
                w = torch.ones(x.shape[0], device=x.device) if weights is None else weights.to(x.device, logp.dtype)
                grads = self._backward(x, logp, w)
        finally:
            for p in params:
                p.requires_grad_(True)
        return grads.sum(1)

    def _backward(self, x: torch.Tensor, logp: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        n_out = logp.shape[1]
        eye = torch.eye(n_out, device=x.device, dtype=logp.dtype)
        if self.batched:
            grad_outputs = eye.unsqueeze(1) * w.view(1, -1, 1)  # (n_out, batch, n_out)
            try:
                (g,) = torch.autograd.grad(logp, x, grad_outputs=grad_outputs, is_grads_batched=True, retain_graph=True)
                return g
            except (RuntimeError, NotImplementedError):
                self.batched = False
        out = []
        for t in range(n_out):
            (g,) = torch.autograd.grad(logp[:, t], x, grad_outputs=w, retain_graph=t < n_out - 1)
            out.append(g)
        return torch.stack(out)
