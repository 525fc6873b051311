"""Counterfactuals: what would have had to be different for the recorded decision to change.

The record's decision is re-scored (never regenerated) with template fields changed, on the
recorded model and the recorded label tokens (:mod:`.rescore`); :mod:`.analyse` tries each field's
values in the order given and names the smallest change that flips the decision. The same
re-scoring serves the protected-attribute checks of :mod:`audit.fairness`. Importing this package
does not import torch (the command line stays fast); :mod:`.analyse` and :mod:`.rescore` do.
"""

from .result import Alternative, CounterfactualResult
from .values import Swap, Variation, swaps_for, variations_for

__all__ = ["Alternative", "CounterfactualResult", "Swap", "Variation", "swaps_for", "variations_for"]
