"""Kernel SHAP: a linear surrogate with Shapley kernel weights, fitted to random feature subsets."""

from __future__ import annotations

from captum.attr import KernelShap

from ..base import register
from ..perturbation import SurrogateMethod


@register
class KernelShapMethod(SurrogateMethod):
    name = "kernel-shap"
    defaults = {"n_samples": 25, "baseline_token": 0, "perturbation_seed": 0, "perturbations_per_eval": 16}
    minimum = {"n_samples": 1, "baseline_token": 0, "perturbation_seed": 0, "perturbations_per_eval": 1}

    def algorithm(self, forward):
        return KernelShap(forward)
