"""The review's writes: a sign-off, a finding, a finding's resolution, each appended with its event.

Checked in a fixed order (the id's form, then the role, then the request's content, then what
is stored, then four eyes) before anything is written, so a refused request stores nothing.
"""

from __future__ import annotations

from pathlib import Path

from ..clock import utc_iso
from ..ids import uuid7
from ..store.findings import Finding
from ..store.reviews import ACCEPT, OVERRIDE, SignOff
from .errors import BadRequest, Conflict, Forbidden, NotFound
from .roles import ADD_FINDING, RESOLVE_FINDING, SIGN_OFF, Principal, require
from .validate import AREAS, MAX_DECISION, SEVERITIES, check_id, choice, stored_record, text, writable


class ReviewActions:
    """Sign-offs and findings on one audit database."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path

    def sign_off(
        self, principal: Principal, record_id: str, action: str, decision: str | None = None, rationale: str | None = ""
    ) -> SignOff:
        check_id(record_id)
        require(principal, SIGN_OFF)
        choice(action, (ACCEPT, OVERRIDE), "action")
        decision_text = text(decision, "the reviewer's decision", required=action == OVERRIDE, limit=MAX_DECISION)
        if action == ACCEPT and decision_text:
            raise BadRequest("an accept keeps the model's decision: leave out the decision, or override instead")
        why = text(rationale, "a rationale (required for an override)", required=action == OVERRIDE)
        with writable(self.db_path) as store:
            record = stored_record(store, record_id)
            if principal.name.casefold() == record.operator.casefold():
                raise Forbidden(
                    f"four eyes: {principal.name} recorded this decision (operator {record.operator}), "
                    "so someone else must sign it off"
                )
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
