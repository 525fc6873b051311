"""Gradient x input on the input embeddings (Captum's ``LayerGradientXActivation``).

One forward and one batched backward; a first-order, local view (no baseline): cheap, but it can
miss features whose effect saturates.
"""

from __future__ import annotations

import torch

from ..base import Attribution, Context, register
from ..gradient import GradientMethod


@register
class GradientXInputMethod(GradientMethod):
    name = "gradient-x-input"
    defaults: dict = {}

    def attribute(self, ctx: Context) -> Attribution:
        engine = self.engine(ctx)
        x = engine.embed(engine.ids)
        grads = engine.gradients(x)  # (rows, seq, dim)
        per_position = (grads * x).sum(-1)
        # Gradient x input has no completeness property: the gap says how far it is from adding up.
        ends = engine.logprobs(torch.cat([x, engine.embed(self.baseline_ids(ctx, engine))]))
        return self.result(ctx, per_position, ends, evaluations=1)
