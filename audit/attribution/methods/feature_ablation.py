"""Feature ablation (default): each feature replaced by its baseline, one at a time.

Deterministic and exact for what it measures: the change in each output token's log-probability
when that one feature is absent (baseline token id 0 for tokens, the empty string for fields and
segments, as in Captum).
"""

from __future__ import annotations

from captum.attr import FeatureAblation

from ..base import register
from ..perturbation import MultiOutputMethod


@register
class FeatureAblationMethod(MultiOutputMethod):
    name = "feature-ablation"
    defaults = {"baseline_token": 0, "perturbations_per_eval": 16}
    minimum = {"baseline_token": 0, "perturbations_per_eval": 1}

    def run(self, ctx, forward):
        return FeatureAblation(forward).attribute(
            self.interpretable(ctx), perturbations_per_eval=ctx.params["perturbations_per_eval"]
        )
