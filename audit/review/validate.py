"""What a review request may hold, checked before anything is read or stored: ids, texts, choices, the record.

Each refusal is a :class:`~audit.review.errors.BadRequest` (400) naming the field, or a
:class:`~audit.review.errors.NotFound` for a well-formed id nothing is stored under.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import UserError
from ..ids import ID_PREFIX, AmbiguousId
from ..record import GenerationRecord
from ..store import AuditStore, check_writable
from .errors import BadRequest, NotFound

RECORD_ID = ID_PREFIX  # the one id pattern: audit.ids
SEVERITIES = ("low", "medium", "high", "critical")
AREAS = ("conceptual-soundness", "data", "outcome", "implementation", "monitoring", "other")
REVIEW_STATES = ("unreviewed", "accepted", "overridden")
MAX_TEXT, MAX_DECISION = 4000, 200
NO_DECISION = "no decision possible"  # an override that names no label: the record does not allow one


def check_id(value: str) -> str:
    if not isinstance(value, str) or not RECORD_ID.match(value):
        raise BadRequest(f"{str(value)[:60]!r} is not a record id: record ids are UUIDs such as 01a2259f-3082-7a9f-…")
    return value


def text(value: Any, what: str, *, required: bool, limit: int = MAX_TEXT) -> str:
    """``value`` stripped; refused if not text, missing when ``required``, or longer than ``limit``."""
    stripped = value.strip() if isinstance(value, str) else ""
    if value is not None and not isinstance(value, str):
        raise BadRequest(f"{what} must be text")
    if required and not stripped:
        raise BadRequest(f"{what} is required")
    if len(stripped) > limit:
        raise BadRequest(f"{what} is {len(stripped)} characters long: keep it under {limit}")
    return stripped


def choice(value: Any, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise BadRequest(f"{what} {str(value)[:40]!r} is not one of {', '.join(allowed)}")
    return value


def writable(db_path: Path) -> AuditStore:
    """The store opened for writing (reads refresh the review index, so pages write too)."""
    check_writable(db_path)
    return AuditStore.open(db_path, write=True)


def stored_record(store: AuditStore, record_id: str) -> GenerationRecord:
    """The record ``record_id`` names: 400 for a malformed id, 404 for one nothing is stored under."""
    try:
        return store.records.get(check_id(record_id))
    except BadRequest:
        raise
    except AmbiguousId as exc:
        raise BadRequest(str(exc)) from None
    except UserError:
        raise NotFound(f"no record {record_id} in this database") from None
