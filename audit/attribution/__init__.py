"""Token, field and segment attributions of recorded generations (Captum)."""
from .result import AttributionResult
from .explain import DEFAULT_METHOD, LogprobMismatchWarning, check_request, explain_record, method_names
from .inputs import GRANULARITIES

__all__ = ["AttributionResult", "DEFAULT_METHOD", "GRANULARITIES", "LogprobMismatchWarning", "check_request", "explain_record", "method_names"]
