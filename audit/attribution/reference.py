"""Captum's own LLM wrappers on the same features: the reference the tests and the benchmark compare to.

``LLMAttribution`` (perturbation methods) and ``LLMGradientAttribution`` (gradient methods), called
the way a Captum user would, on :meth:`FeatureSpace.captum_input`. Gradient results at field or
segment granularity are Captum's token attributions summed over each feature's tokens.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from captum.attr import (
    FeatureAblation,
    KernelShap,
    LayerGradientXActivation,
    LayerIntegratedGradients,
    Lime,
    LLMAttribution,
    LLMGradientAttribution,
    ShapleyValueSampling,
)

from ..determinism import seed_everything
from .inputs import FeatureSpace, PositionTokenInput

_PERTURBATION = {
    "feature-ablation": FeatureAblation,
    "shapley-sampling": ShapleyValueSampling,
    "lime": Lime,
    "kernel-shap": KernelShap,
}


def captum_attribute(
    model,
    features: FeatureSpace,
    output_ids: list[int],
    method: str,
    params: dict[str, Any],
    *,
    forward_in_tokens: bool = False,
    use_cached_outputs: bool = True,
) -> tuple[np.ndarray | None, np.ndarray]:
    """(token_attr or None, seq_attr) as Captum computes them; ``forward_in_tokens=True`` is its default path."""
    target = torch.tensor(output_ids)
    inp = features.captum_input()
    if method in _PERTURBATION:
        kwargs = {k: params[k] for k in ("n_samples",) if k in params}
        if "perturbation_seed" in params:
            seed_everything(params["perturbation_seed"])
        attr = LLMAttribution(_PERTURBATION[method](model), features.tokenizer)
        out = attr.attribute(
            inp, target=target, forward_in_tokens=forward_in_tokens, use_cached_outputs=use_cached_outputs, **kwargs
        )
        token = None if out.token_attr is None else out.token_attr.detach().cpu().float().numpy()
        return token, out.seq_attr.detach().cpu().float().numpy()
    layer = model.get_input_embeddings()
    if method == "integrated-gradients":
        algo, kwargs = (
            LayerIntegratedGradients(model, layer),
            {"n_steps": params["n_steps"], "method": params["integration"]},
        )
    elif method == "gradient-x-input":
        algo, kwargs = LayerGradientXActivation(model, layer), {}
    else:
        raise ValueError(method)
    # Captum's gradient wrapper takes token inputs only: the tokens of every feature, summed below.
    inp = PositionTokenInput(features.input_ids, features.positions, features.tokenizer, features.baseline_token)
    out = LLMGradientAttribution(algo, features.tokenizer).attribute(inp, target=target, **kwargs)
    per_token = out.token_attr.detach().cpu().float()  # (n_out, attributable positions in order)
    column = {p: i for i, p in enumerate(features.positions)}
    grouped = torch.stack([per_token[:, [column[p] for p in group]].sum(1) for group in features.groups], dim=1).numpy()
    return grouped, grouped.sum(0)


@torch.no_grad()
def contrastive_logprob(model, prompts: list[list[int]], label_ids: list[int], contrast_ids: list[int]) -> torch.Tensor:
    """log p(label) - log p(contrast) after each prompt, one plain forward per prompt and label (no cache, no
    batching, every position projected): the reference score the decision explanations are checked against."""
    device = next(model.parameters()).device
    out = []
    for prompt in prompts:
        scores = []
        for ids in (label_ids, contrast_ids):
            full = torch.tensor([list(prompt) + list(ids)], device=device)
            logp = torch.log_softmax(model(input_ids=full, use_cache=False).logits[0].float(), dim=-1)
            n = len(prompt)
            scores.append(sum(logp[n - 1 + k, t] for k, t in enumerate(ids)))
        out.append(scores[0] - scores[1])
    return torch.stack(out)


def captum_decision_attribute(
    model, features: FeatureSpace, label_ids: list[int], contrast_ids: list[int], method: str, params: dict[str, Any]
) -> tuple[np.ndarray, float, float]:
    """(seq_attr, full score, score with every feature at its baseline): Captum's own algorithm with a forward
    function returning log p(label) - log p(contrast) (:func:`contrastive_logprob`).

    Perturbation methods run on Captum's interpretable input (:meth:`FeatureSpace.captum_input`: its
    ``to_model_input`` builds each perturbed prompt, re-tokenised for fields), one perturbation per call;
    gradient methods (``IntegratedGradients``, ``InputXGradient``) run on the prompt's input embeddings with
    every attributable token's embedding replaced by the baseline token's as the baseline, summed over the
    embedding dimension and over each feature's tokens.
    """
    from captum.attr import InputXGradient, IntegratedGradients

    tokenizer = features.tokenizer
    inp = features.captum_input()

    def prompt_of(mask: torch.Tensor) -> list[int]:
        model_input = inp.to_model_input(mask.unsqueeze(0))
        if isinstance(model_input, str):
            return list(tokenizer(model_input, add_special_tokens=features.add_special_tokens)["input_ids"])
        return [int(t) for t in model_input[0].tolist()]

    def score(masks: torch.Tensor) -> torch.Tensor:
        return contrastive_logprob(model, [prompt_of(m) for m in masks], label_ids, contrast_ids)

    with torch.no_grad():
        n = len(features.labels)
        full, empty = score(torch.stack([torch.ones(n), torch.zeros(n)])).tolist()
    if method in _PERTURBATION:
        kwargs = {k: params[k] for k in ("n_samples",) if k in params}
        if "perturbation_seed" in params:
            seed_everything(params["perturbation_seed"])
        with torch.no_grad():
            attr = _PERTURBATION[method](score).attribute(inp.to_tensor().float(), **kwargs)
        return attr.reshape(-1).detach().cpu().float().numpy(), full, empty
    embedding = model.get_input_embeddings()
    device = next(model.parameters()).device
    prompt = torch.tensor([features.input_ids], device=device)
    baseline = prompt.clone()
    baseline[0, features.positions] = features.baseline_token
    # The gradient methods' baseline replaces every attributable token (at any granularity), not a field's text.
    empty = float(contrastive_logprob(model, [baseline[0].tolist()], label_ids, contrast_ids)[0])
    suffix = [embedding(torch.tensor([ids[:-1]], device=device)) for ids in (label_ids, contrast_ids)]

    def forward(x: torch.Tensor) -> torch.Tensor:
        n_prompt, scores = x.shape[1], []
        for ids, tail in zip((label_ids, contrast_ids), suffix):
            rows = torch.cat([x, tail.expand(x.shape[0], -1, -1)], dim=1)
            logp = torch.log_softmax(model(inputs_embeds=rows, use_cache=False).logits.float(), dim=-1)
            scores.append(sum(logp[:, n_prompt - 1 + k, t] for k, t in enumerate(ids)))
        return scores[0] - scores[1]

    x, xb = embedding(prompt).detach(), embedding(baseline).detach()
    if method == "integrated-gradients":
        attr = IntegratedGradients(forward).attribute(
            x, baselines=xb, n_steps=params["n_steps"], method=params["integration"]
        )
    elif method == "gradient-x-input":
        attr = InputXGradient(forward).attribute(x.requires_grad_(True))
    else:
        raise ValueError(method)
    per_position = attr.detach()[0].sum(-1).cpu().float()
    return np.array([float(per_position[group].sum()) for group in features.groups], dtype=np.float32), full, empty
