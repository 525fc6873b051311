"""The one text form of a recorded value in the dossier's tables, shared by its sections."""

from __future__ import annotations

import json
from typing import Any

Rows = list[tuple[str, str]]


def value_text(value: Any) -> str:
    """One deterministic text for any recorded value (floats by repr, containers as JSON)."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return "—" if value is None else str(value)
