"""What changed in the software and hardware between a recording and its replay.

A diverged replay on a new torch version, another CPU or a different thread count is a
different finding from one on the same stack, so the validator sees the differences
next to the verdict. Nested fields (packages, determinism flags) are flattened to dotted
names so each difference is one line.
"""

from __future__ import annotations

from typing import Any

from ..environment import Environment


def _flatten(value: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, dict):
            flat.update(_flatten(item, name + "."))
        else:
            flat[name] = item
    return flat


def diff_environments(recorded: Environment, current: Environment) -> dict[str, Any]:
    """``dotted field -> {"recorded", "current"}`` for the fields that differ, sorted by name."""
    old, new = _flatten(recorded.to_dict()), _flatten(current.to_dict())
    return {
        name: {"recorded": old.get(name), "current": new.get(name)}
        for name in sorted(set(old) | set(new))
        if old.get(name) != new.get(name)
    }
