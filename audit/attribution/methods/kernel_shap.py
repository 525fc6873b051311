"""Kernel SHAP: a linear surrogate with Shapley kernel weights, fitted to random feature subsets."""

from __future__ import annotations

from captum.attr import KernelShap

from ..base import register
from ..perturbation import SurrogateMethod


@register
class KernelShapMethod(SurrogateMethod):
    name = "kernel-shap"

    def algorithm(self, forward):
        return KernelShap(forward)
