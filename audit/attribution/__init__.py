"""Token, field and segment attributions of recorded generations (Captum).

Only the result contract is imported here (the store needs it without loading Captum); the
methods live in :mod:`audit.attribution.explain` and :mod:`audit.attribution.methods`.
"""

from .result import AttributionResult

__all__ = ["AttributionResult"]
