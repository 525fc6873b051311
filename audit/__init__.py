"""llm-audit: record, explain, report and reproduce LLM generations for regulated finance."""
from .auditor import Auditor
from .errors import UserError
from .record import GenerationRecord, ModelIdentity

__all__ = ["Auditor", "GenerationRecord", "ModelIdentity", "UserError"]
__version__ = "0.1.0"
