"""The review's writes: a sign-off, a finding, a finding's resolution, each appended with its event.

Checked in a fixed order (the id's form, then the role, then the request's content, then what
is stored, then four eyes) before anything is written, so a refused request stores nothing.

A sign-off names the review state it was made on (``based_on``: the id of the record's latest
sign-off the reviewer saw, None for "no sign-off yet"). It is checked and written in one write
transaction, so of two reviewers signing on the same state one is stored and the other refused
(409, naming who signed meanwhile): nobody silently replaces a sign-off they have not read. An
override chooses one of the record's decision labels other than the model's, or
:data:`~audit.review.validate.NO_DECISION` (a rationale is required either way); a record
without a scored decision has no labels, so its override is the reviewer's own words.
"""

from __future__ import annotations

from pathlib import Path

from ..clock import utc_iso
from ..ids import uuid7
from ..record import GenerationRecord
from ..store.findings import Finding
from ..store.reviews import ACCEPT, OVERRIDE, SignOff
from .errors import BadRequest, Conflict, Forbidden, NotFound
from .names import same_person
from .roles import ADD_FINDING, RESOLVE_FINDING, SIGN_OFF, Principal, require
from .validate import (
    AREAS,
    MAX_DECISION,
    NO_DECISION,
    SEVERITIES,
    check_id,
    choice,
    stored_record,
    text,
    writable,
)


def override_choices(record: GenerationRecord) -> list[str]:
    """What an override of ``record`` may choose: its labels other than the model's, or no decision (None: free)."""
    if record.decision is None:
        return []
    return [label for label in record.decision.labels if label != record.decision.chosen] + [NO_DECISION]


def _overriding(record: GenerationRecord, decision: str) -> str:
    """The override's decision as one of ``record``'s choices (case-insensitive), or refused."""
    allowed = override_choices(record)
    if not allowed:
        return decision
    for label in allowed:
        if label.casefold() == decision.casefold():
            return label
    model = record.decision.chosen if record.decision else ""
    raise BadRequest(
        f"an override of this record chooses one of {', '.join(allowed)}: {decision[:40]!r} is "
        + (
            "the model's own decision (accept it instead)"
            if decision.casefold() == model.casefold()
            else "not one of them"
        )
    )


def _stale(latest: SignOff | None) -> Conflict:
    if latest is None:
        return Conflict(
            "this record's sign-off you based yours on is no longer the latest: reload the record and sign again"
        )
    what = "accepted the model's output" if latest.action == ACCEPT else f"overrode it with {latest.decision}"
    return Conflict(
        f"{latest.reviewer} ({latest.role}) {what} at {latest.created_at[:19]}Z, after the state you signed on: "
        f"read their sign-off (id {latest.id}) and sign again, naming it, if you still disagree; nothing was stored"
    )


class ReviewActions:
    """Sign-offs and findings on one audit database."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path

    def sign_off(
        self,
        principal: Principal,
        record_id: str,
        action: str,
        decision: str | None = None,
        rationale: str | None = "",
        based_on: str | None = None,
    ) -> SignOff:
        check_id(record_id)
        require(principal, SIGN_OFF)
        choice(action, (ACCEPT, OVERRIDE), "action")
        decision_text = text(decision, "the reviewer's decision", required=action == OVERRIDE, limit=MAX_DECISION)
        if action == ACCEPT and decision_text:
            raise BadRequest("an accept keeps the model's decision: leave out the decision, or override instead")
        why = text(rationale, "a rationale (required for an override)", required=action == OVERRIDE)
        if based_on is not None:
            check_id(based_on)
        with writable(self.db_path) as store, store.transaction():
            record = stored_record(store, record_id)
            if action == OVERRIDE:
                decision_text = _overriding(record, decision_text)
            if same_person(principal.name, record.operator):
                raise Forbidden(
                    f"four eyes: {principal.name} recorded this decision (operator {record.operator}), "
                    "so someone else must sign it off"
                )
            earlier = store.reviews.of_record(record.id)
            latest = earlier[-1] if earlier else None
            if (latest.id if latest else None) != based_on:
                raise _stale(latest)
            logged = store.events.logged("generation", record.id)
            if logged is None:
                raise Conflict(f"record {record.id} has no generation event in the log: run `llm-audit verify`")
            review = SignOff(
                uuid7(),
                record.id,
                logged.payload_sha256,
                principal.name,
                principal.role,
                action,
                decision_text or None,
                why,
                principal.via,
                utc_iso(),
            )
            store.reviews.append(review)
        return review

    def add_finding(self, principal: Principal, record_id: str, severity: str, area: str, body: str | None) -> Finding:
        check_id(record_id)
        require(principal, ADD_FINDING)
        choice(severity, SEVERITIES, "severity")
        choice(area, AREAS, "area")
        said = text(body, "the finding's text", required=True)
        with writable(self.db_path) as store:
            record = stored_record(store, record_id)
            finding = Finding(
                uuid7(), record.id, principal.name, principal.role, severity, area, said, None, principal.via, utc_iso()
            )
            store.findings.append(finding)
        return finding

    def resolve_finding(self, principal: Principal, finding_id: str, body: str | None) -> Finding:
        check_id(finding_id)
        require(principal, RESOLVE_FINDING)
        said = text(body, "the resolution's text", required=True)
        with writable(self.db_path) as store, store.transaction():
            finding = store.findings.get(finding_id)
            if finding is None or finding.resolves is not None:
                raise NotFound(f"no finding {finding_id}")
            if any(f.resolves == finding.id for f in store.findings.of_record(finding.record_id)):
                raise Conflict(f"finding {finding_id} is already resolved")
            resolution = Finding(
                uuid7(),
                finding.record_id,
                principal.name,
                principal.role,
                None,
                None,
                said,
                finding.id,
                principal.via,
                utc_iso(),
            )
            store.findings.append(resolution)
        return resolution
