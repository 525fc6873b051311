"""Which records a batch still has to do: the basis of resumable, idempotent runs.

An explanation is identified by (record, method, granularity, effective parameters): the
parameters the method actually ran with after defaults, hashed as RFC 8785 canonical JSON.
The descriptive entries ``explain_record`` adds to the stored parameters (the target, the
baseline field, Captum's version) are not part of the identity, so upgrading Captum does not
make every record pending again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from ..errors import UserError
from ..record import GenerationRecord

DESCRIPTIVE_PARAMS = ("target", "baseline_field", "captum")


def params_key(method: str, granularity: str, params: dict[str, Any]) -> str:
    """SHA-256 of the canonical (method, granularity, effective parameters)."""
    from ..integrity.canonical import canonical_bytes

    effective = {k: v for k, v in params.items() if k not in DESCRIPTIVE_PARAMS}
    return hashlib.sha256(
        canonical_bytes({"method": method, "granularity": granularity, "params": effective})
    ).hexdigest()


def effective_params(method: str, granularity: str, params: dict[str, Any]) -> dict[str, Any]:
    """The parameters ``explain_record`` will store for this request (minus the descriptive ones).

    Raises :class:`UserError` for an unknown method, granularity or parameter, before any work.
    """
    from ..attribution.explain import check_request

    cls, resolved = check_request(None, method, granularity, params)
    if not cls.stochastic:  # explain_record drops the seed of deterministic methods
        resolved.pop("perturbation_seed", None)
    return resolved


@dataclass
class Selection:
    """The records a batch will send to workers, and why the others were left out."""

    todo: list[GenerationRecord]
    selected: int
    already_done: int = 0
    skipped: dict[str, str] = field(default_factory=dict)  # record id -> reason


def explained_keys(store: Any, method: str, granularity: str) -> set[tuple[str, str]]:
    """(record id, params key) of every stored explanation of this method and granularity."""
    return {
        (record_id, params_key(method, granularity, params))
        for record_id, params in store.explanations.params_of(method, granularity)
    }


def select_for_explain(
    store: Any, records: list[GenerationRecord], method: str, granularity: str, params: dict[str, Any]
) -> Selection:
    """Records without a stored explanation for this request; unexplainable ones are skipped with the reason."""
    from ..attribution.explain import check_request

    key = request_key(method, granularity, params)
    done = {record_id for record_id, k in explained_keys(store, method, granularity) if k == key}
    selection = Selection(todo=[], selected=len(records))
    for record in records:
        if record.id in done:
            selection.already_done += 1
            continue
        try:
            check_request(record, method, granularity, params)
        except UserError as exc:
            selection.skipped[record.id] = str(exc)
            continue
        selection.todo.append(record)
    return selection


def request_key(method: str, granularity: str, params: dict[str, Any]) -> str:
    """The identity of an explanation request: :func:`params_key` of its effective parameters."""
    return params_key(method, granularity, effective_params(method, granularity, params))


def already_explained(store: Any, record_id: str, method: str, granularity: str, key: str) -> bool:
    """Whether the explanation with request ``key`` is stored; checked again inside each store transaction."""
    return any(
        params_key(method, granularity, p) == key
        for _, p in store.explanations.params_of(method, granularity, record_id)
    )
