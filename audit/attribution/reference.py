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
