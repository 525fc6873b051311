"""Is the model about to replay a record the model that produced it? Compared by content.

Names and folders move; hashes do not. Each identity field that decides the output
(weights, config, tokenizer files, chat template) is compared on its own so a validator
sees *which* part changed, not just that something did. Descriptive fields (name,
architecture, parameter count) are shown beside them but never decide a match: a renamed
folder with the same bytes is the same model.
"""

from __future__ import annotations

from typing import Any

from ..record import ModelIdentity

# Fields whose difference means "another model": they decide the match.
DECIDING_FIELDS = ("weights_sha256", "config_sha256", "tokenizer_sha256", "chat_template_sha256")
# Fields shown for orientation only.
DESCRIPTIVE_FIELDS = ("name", "architecture", "parameter_count")


def compare_models(recorded: ModelIdentity, current: ModelIdentity) -> dict[str, Any]:
    """``field -> {"recorded", "current", "match", "decides"}`` for every compared field."""
    comparison: dict[str, Any] = {}
    for name in DECIDING_FIELDS + DESCRIPTIVE_FIELDS:
        old, new = getattr(recorded, name), getattr(current, name)
        comparison[name] = {"recorded": old, "current": new, "match": old == new, "decides": name in DECIDING_FIELDS}
    return comparison


def mismatched_fields(comparison: dict[str, Any]) -> list[str]:
    """The deciding fields that differ, in a fixed order."""
    return [name for name in DECIDING_FIELDS if name in comparison and not comparison[name]["match"]]


def same_model(recorded: ModelIdentity, current: ModelIdentity) -> bool:
    return not mismatched_fields(compare_models(recorded, current))


def _short(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {str(v)[:12]}…" for k, v in sorted(value.items())) or "{}"
    if isinstance(value, str) and len(value) == 64:
        return value[:12] + "…"
    return str(value)


def describe_mismatch(comparison: dict[str, Any]) -> str:
    """One line naming each differing field with both values (hashes shortened)."""
    parts = []
    for name in mismatched_fields(comparison):
        entry = comparison[name]
        if isinstance(entry["recorded"], dict) and isinstance(entry["current"], dict):
            files = sorted(set(entry["recorded"]) | set(entry["current"]))
            changed = [f for f in files if entry["recorded"].get(f) != entry["current"].get(f)]
            parts.append(f"{name} differs in {', '.join(changed)}")
        else:
            parts.append(f"{name} recorded {_short(entry['recorded'])} now {_short(entry['current'])}")
    return "; ".join(parts)


def require_recorded_model(record, current: ModelIdentity, what: str, allow_mismatch: bool = False) -> str | None:
    """None where ``current`` is the record's model (by content); else the mismatch in words where it is allowed
    (the caller marks its result as computed on another model), else a one-line UserError naming it."""
    from ..errors import UserError

    comparison = compare_models(record.model, current)
    if not mismatched_fields(comparison):
        return None
    described = f"{current.name} instead of the recorded {record.model.name}: {describe_mismatch(comparison)}"
    if allow_mismatch:
        return described
    raise UserError(
        f"{what} of record {record.id} must run on the recorded model, and the loaded model is {described}; pass the "
        "record's model with --model, or --allow-model-mismatch to store the result marked as computed on another model"
    )
