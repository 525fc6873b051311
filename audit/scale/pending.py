"""Which records a batch still has to do: the basis of resumable, idempotent runs.

An explanation is identified by (record, method, granularity, effective parameters, target): the
parameters the method actually ran with after defaults, and for a decision target its label and
contrast, hashed as RFC 8785 canonical JSON (:attr:`audit.attribution.request.ExplainRequest.key`).
The request is resolved for each record first (its target can depend on the record: the default is
the decision where a record has one). The descriptive entries stored beside them (the target's
description, the baseline field, Captum's version) are not part of the identity, so upgrading
Captum does not make every record pending again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..attribution.request import ExplainRequest, params_key
from ..errors import UserError
from ..record import GenerationRecord


@dataclass
class Selection:
    """The records a batch will send to workers, and why the others were left out."""

    todo: list[GenerationRecord]
    selected: int
    already_done: int = 0
    skipped: dict[str, str] = field(default_factory=dict)  # record id -> reason


def _done_keys(store: Any, request: ExplainRequest, record_id: str | None = None) -> set[tuple[str, str]]:
    stored = store.explanations.params_of(request.method, request.granularity, record_id)
    return {(rid, params_key(request.method, request.granularity, params)) for rid, params in stored}


def select_for_explain(store: Any, records: list[GenerationRecord], request: ExplainRequest) -> Selection:
    """Records without a stored explanation for this request; unexplainable ones are skipped with the reason."""
    done = _done_keys(store, request)
    selection = Selection(todo=[], selected=len(records))
    for record in records:
        try:
            resolved = request.for_record(record)
        except UserError as exc:
            selection.skipped[record.id] = str(exc)
            continue
        if (record.id, resolved.key) in done:
            selection.already_done += 1
            continue
        try:
            resolved.check_record(record)
        except UserError as exc:
            selection.skipped[record.id] = str(exc)
            continue
        selection.todo.append(record)
    return selection


def already_explained(store: Any, record_id: str, request: ExplainRequest) -> bool:
    """Whether the explanation of ``request`` is stored; checked again inside each store transaction."""
    if not request.resolved:
        request = request.for_record(store.records.get(record_id))
    return (record_id, request.key) in _done_keys(store, request, record_id)
