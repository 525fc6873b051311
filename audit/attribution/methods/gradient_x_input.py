"""Gradient x input on the input embeddings (Captum's ``LayerGradientXActivation``).

One forward and one batched backward; a first-order, local view (no baseline): cheap, but it can
miss features whose effect saturates.
"""

from __future__ import annotations

from ..base import Attribution, Context, register
from ..gradient import GradientMethod


@register
class GradientXInputMethod(GradientMethod):
    name = "gradient-x-input"
    defaults: dict = {}

    def attribute(self, ctx: Context) -> Attribution:
        engine = self.engine(ctx)
        x = engine.embed(engine.ids)
        grads = engine.gradients(x)  # (n_out, seq, dim)
        return self.result(ctx, (grads * x).sum(-1), evaluations=1)
