"""Shapley value sampling: each feature's mean marginal effect over random feature orders.

Accounts for interactions (a field that matters only together with another) at the cost of
``n_samples * (n_features + 1)`` evaluations; the orders come from ``perturbation_seed``.
"""

from __future__ import annotations

from captum.attr import ShapleyValueSampling

from ..base import register
from ..perturbation import SAMPLED_DEFAULTS, SAMPLED_MINIMUM, MultiOutputMethod


@register
class ShapleySamplingMethod(MultiOutputMethod):
    name = "shapley-sampling"
    stochastic = True
    defaults = SAMPLED_DEFAULTS
    minimum = SAMPLED_MINIMUM

    def run(self, ctx, forward):
        return ShapleyValueSampling(forward).attribute(
            self.interpretable(ctx),
            n_samples=ctx.params["n_samples"],
            perturbations_per_eval=ctx.params["perturbations_per_eval"],
        )
