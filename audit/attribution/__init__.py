"""Token, field and segment attributions of recorded generations (Captum)."""
from .result import AttributionResult

__all__ = ["AttributionResult"]
