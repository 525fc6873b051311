"""LIME: a sparse (Lasso) linear surrogate fitted to random subsets of features.

Captum's defaults: Lasso alpha 0.01, cosine-distance exponential kernel, Bernoulli(0.5) subsets
drawn from ``perturbation_seed``. A surrogate fit, not an exact effect: with few samples relative to
features it is noisy and may zero out features.
"""

from __future__ import annotations

from captum.attr import Lime

from ..base import register
from ..perturbation import SurrogateMethod


@register
class LimeMethod(SurrogateMethod):
    name = "lime"

    def algorithm(self, forward):
        return Lime(forward)
