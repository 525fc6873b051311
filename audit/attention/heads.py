"""Head importance: which attention heads carry the recorded output, attributed with Captum.

Method: gradient x head mask (Michel, Levy & Neubig 2019, "Are Sixteen Heads Really
Better than One?"). Put a gate ``xi_h = 1`` on the output of every head; the importance
of head ``h`` is ``dF/dxi_h`` at ``xi = 1``, the first-order estimate of how much the
target ``F`` would change if the head were removed. ``F`` is the sum of the recorded
output tokens' log-probabilities under teacher forcing, the same quantity
:mod:`audit.scoring` checks (raw log-softmax, no temperature).

Because a gate multiplies the head's slice of the input of the attention output
projection (``o_proj``), ``dF/dxi_h = sum over positions and head dims of
activation x gradient`` on that slice: exactly Captum's ``LayerGradientXActivation``
on ``o_proj``'s input, summed per head. Why this and not the alternatives:

* it answers the validator's question ("does the decision depend on this head?") by
  the effect of the head's output on the target, not by how peaked its weights are;
* all layers x heads come from ONE forward + backward pass (Captum takes the list of
  30 layers at once), about 1-2 s per record on CPU for SmolLM2;
* ``LayerIntegratedGradients`` / ``LayerConductance`` per layer would add completeness
  along a path to the ablated layer, but cost layers x steps passes (30 x 20+ = 600+
  forward/backward passes, minutes per record on CPU) and interpolate all heads of a
  layer together, so the per-head split is no more principled than the gradient's.

Values are signed: positive = the head pushes towards the recorded output, negative =
against it. Rankings use the absolute value. A first-order estimate can misjudge heads
whose removal changes the target non-linearly; that is a stated limit, not hidden.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from captum.attr import LayerGradientXActivation

from ..errors import UserError

METHOD = "gradient-x-head-mask (LayerGradientXActivation on o_proj input)"


def attention_output_projections(model: torch.nn.Module) -> list[torch.nn.Linear]:
    """The per-layer ``self_attn.o_proj`` modules, in layer order.

    Their input is the concatenation of every head's output, head by head, which is
    what lets one gradient be split per head.
    """
    found = [(name, module) for name, module in model.named_modules() if name.endswith("self_attn.o_proj")]
    if not found or not all(isinstance(m, torch.nn.Linear) for _, m in found):
        raise UserError(
            f"{type(model).__name__} has no self_attn.o_proj attention projections: head importance "
            "supports Llama-style models (Llama, Mistral, Qwen, SmolLM)"
        )
    return [module for _, module in found]


def output_logprob_sum(model: torch.nn.Module, n_input: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """``ids (batch, seq) -> (batch,)``: sum of log-probs of ``ids[:, n_input:]`` by teacher forcing.

    The differentiable twin of :func:`audit.scoring.teacher_forced` (which runs under
    ``no_grad`` and returns lists): same positions, same raw log-softmax.
    """

    def forward(ids: torch.Tensor) -> torch.Tensor:
        logits = model(input_ids=ids, use_cache=False).logits
        logp = torch.log_softmax(logits[:, n_input - 1 : -1].float(), dim=-1)
        return logp.gather(-1, ids[:, n_input:].unsqueeze(-1)).squeeze(-1).sum(-1)

    return forward


def per_head(attribution: torch.Tensor, heads: int) -> np.ndarray:
    """``(batch, seq, heads * head_dim) -> (heads,)``: sum each head's slice (batch of one)."""
    batch, seq, width = attribution.shape
    return attribution.reshape(batch, seq, heads, width // heads).sum(dim=(0, 1, 3)).detach().double().cpu().numpy()


def head_importance(model: torch.nn.Module, input_ids: list[int], output_ids: list[int]) -> np.ndarray:
    """``(layers, heads)`` gradient x head-mask importance for the recorded output."""
    heads = int(model.config.num_attention_heads)
    projections = attention_output_projections(model)
    device = next(model.parameters()).device
    ids = torch.tensor([list(input_ids) + list(output_ids)], device=device)
    method = LayerGradientXActivation(output_logprob_sum(model, len(input_ids)), projections, multiply_by_inputs=True)
    with torch.enable_grad():
        attributions = method.attribute(ids, attribute_to_layer_input=True)
    if isinstance(attributions, torch.Tensor):  # a single layer comes back unwrapped
        attributions = [attributions]
    return np.stack([per_head(a[0] if isinstance(a, tuple) else a, heads) for a in attributions])
