"""The queue as a worklist: assigning a record to a reviewer, and the next record to look at after a sign-off.

An assignment is evidence (``assignments``: who was asked to look, by whom, when), written through
the store like a sign-off. A reviewer takes a record for themselves or gives back their own; a
validator or an admin assigns to any user who may sign off. Checked in the usual order (the id's
form, the role, the content, what is stored) before anything is written.
"""

from __future__ import annotations

from pathlib import Path

from ..clock import utc_iso
from ..ids import uuid7
from ..store.assignments import Assignment
from ..store.review_index import IndexRow
from .errors import BadRequest, Forbidden
from .queue import refresh
from .roles import ASSIGN, ASSIGN_OTHERS, SIGN_OFF, Principal, allowed, require
from .validate import check_id, stored_record, text, writable

NEXT_LOOKAHEAD = 50  # queue rows read to find the next unsigned record


class Worklist:
    """Assignments and the next record, over one audit database."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path

    def assign(self, principal: Principal, record_id: str, assignee: str | None) -> Assignment:
        """Give ``record_id`` to ``assignee`` (None or empty: back to the team); logged as evidence."""
        check_id(record_id)
        require(principal, ASSIGN)
        name = text(assignee, "the assignee", required=False, limit=64) or None
        with writable(self.db_path) as store, store.transaction():
            record = stored_record(store, record_id)
            current = store.assignments.current(record.id)
            if name != principal.name and not (name is None and current == principal.name):
                if not allowed(principal.role, ASSIGN_OTHERS):
                    raise Forbidden(
                        f"{principal.name} has the role {principal.role}, which may take records for themselves or "
                        "give back their own: assigning to someone else needs the role validator or higher"
                    )
            if name is not None:
                user = store.users.current(name) if store.users.exists() else None
                if user is None or user.disabled or not allowed(user.role, SIGN_OFF):
                    raise BadRequest(f"{name} is not an enabled user who may sign off: choose a reviewer")
            if name == current:
                raise BadRequest(f"the record is already {'assigned to ' + name if name else 'unassigned'}")
            assignment = Assignment(uuid7(), record.id, name, principal.name, principal.role, principal.via, utc_iso())
            store.assignments.append(assignment)
        return assignment

    def next_unsigned(
        self, principal: Principal, after: str, reason: str | None = None, mine: bool = False
    ) -> str | None:
        """The first unsigned record of the queue (this reason; ``mine``: assigned to ``principal``) other
        than ``after``: where a reviewer goes after signing ``after`` off."""
        with writable(self.db_path) as store:
            refresh(store)
            rows, _ = store.review_index.queue(
                reason=reason, limit=NEXT_LOOKAHEAD, offset=0, assignee=principal.name if mine else None
            )
        return next((r.record_id for r in rows if _signable(r, principal) and r.record_id != after), None)


def _signable(row: IndexRow, principal: Principal) -> bool:
    """Not signed off yet, and not recorded by ``principal`` (four eyes: they could not sign it)."""
    return row.review_state == "unreviewed" and row.operator.casefold() != principal.name.casefold()
