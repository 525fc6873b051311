"""Integrated gradients on the input embeddings (Captum's ``LayerIntegratedGradients`` semantics).

The path runs from the embeddings of the prompt with every attributable token replaced by
``baseline_token`` to the recorded prompt's embeddings; chat markup stays fixed. Captum's own
integration rule (``gausslegendre`` by default) supplies the points and weights. The convergence
delta per output token (sum of attributions minus the change in log-probability) says how well
``n_steps`` approximates the integral.
"""

from __future__ import annotations

import torch
from captum.attr._utils.approximation_methods import approximation_parameters

from ..base import Attribution, Context, register
from ..gradient import GradientMethod


@register
class IntegratedGradientsMethod(GradientMethod):
    name = "integrated-gradients"
    defaults = {"n_steps": 50, "integration": "gausslegendre", "baseline_token": 0, "internal_batch_size": 16}
    minimum = {"n_steps": 2, "baseline_token": 0, "internal_batch_size": 1}  # Captum's rules need 2 points

    def attribute(self, ctx: Context) -> Attribution:
        engine = self.engine(ctx)
        x_in = engine.embed(engine.ids)
        x_base = engine.embed(self.baseline_ids(ctx, engine))
        diff = x_in - x_base
        step_sizes_fn, alphas_fn = approximation_parameters(ctx.params["integration"])
        n = ctx.params["n_steps"]
        alphas = torch.tensor(alphas_fn(n), dtype=x_in.dtype)
        steps = torch.tensor(step_sizes_fn(n), dtype=x_in.dtype)
        total = torch.zeros(ctx.rows, *x_in.shape[1:], dtype=x_in.dtype, device=x_in.device)
        chunk = ctx.params["internal_batch_size"]
        for i in range(0, n, chunk):
            a = alphas[i : i + chunk].to(x_in.device).view(-1, 1, 1)
            total += engine.gradients(x_base + a * diff, steps[i : i + chunk])
        per_position = (total * diff).sum(-1)  # (n_out, seq)
        ends = engine.logprobs(torch.cat([x_in, x_base]))
        delta = per_position.sum(1) - (ends[0] - ends[1])
        return self.result(ctx, per_position, ends, convergence_delta=[float(d) for d in delta], evaluations=n)
