"""Shapley value sampling: each feature's mean marginal effect over random feature orders.

Accounts for interactions (a field that matters only together with another) at the cost of
``n_samples * (n_features + 1)`` evaluations; the orders come from ``perturbation_seed``.
"""

from __future__ import annotations

from captum.attr import ShapleyValueSampling

from ..base import register
from ..perturbation import MultiOutputMethod


@register
class ShapleySamplingMethod(MultiOutputMethod):
    name = "shapley-sampling"
    stochastic = True
    defaults = {"n_samples": 25, "baseline_token": 0, "perturbation_seed": 0, "perturbations_per_eval": 16}
    minimum = {"n_samples": 1, "baseline_token": 0, "perturbation_seed": 0, "perturbations_per_eval": 1}

    def run(self, ctx, forward):
        return ShapleyValueSampling(forward).attribute(
            self.interpretable(ctx),
            n_samples=ctx.params["n_samples"],
            perturbations_per_eval=ctx.params["perturbations_per_eval"],
        )
