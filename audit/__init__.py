"""llm-audit: record, explain, report and reproduce LLM generations for regulated finance.

The public names are resolved on first use (PEP 562): importing a submodule, or running a
CLI command that never touches a model (``--help``, ``list``, ``verify``), does not pay for
importing torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["Auditor", "GenerationRecord", "ModelIdentity", "UserError"]
__version__ = "0.1.0"

_WHERE = {"Auditor": ".auditor", "UserError": ".errors", "GenerationRecord": ".record", "ModelIdentity": ".record"}

if TYPE_CHECKING:
    from .auditor import Auditor
    from .errors import UserError
    from .record import GenerationRecord, ModelIdentity


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        from importlib import import_module

        return getattr(import_module(_WHERE[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
