"""Requests as typed commands: what a form post and the JSON API both turn a request into.

A sign-off, a finding, its resolution, a job or a user change is read here, once, from the
fields of an HTML form or the members of a JSON object, so the page and the API apply the same
defaults (a missing or empty optional value is absent) and call the review API the same way;
the review API then checks the content. Query parameters (a page number, the records list's
filters, the summary's period) are read here too: parsing HTTP is the web layer's job.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..clock import normalise_time
from ..errors import UserError
from ..review.accounts import Account
from ..review.errors import BadRequest
from ..review.jobs import Job
from ..review.roles import Principal
from ..review.service import REVIEW_STATES, Reviews
from ..review.validate import choice
from ..store.assignments import Assignment
from ..store.findings import Finding
from ..store.review_index import RecordFilter
from ..store.reviews import SignOff
from .security import CSRF_FIELD

Fields = Mapping[str, Any]


def _text(fields: Fields, name: str) -> str | None:
    """The text of ``name``; None when it is missing or empty (one default for forms and JSON)."""
    value = fields.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be text")
    return value


@dataclass(frozen=True)
class SignOffForm:
    """A sign-off and the review state it was made on (``based_on``: the latest sign-off's id the reviewer
    saw; missing or empty: "no sign-off yet", so a client that names nothing cannot replace one unread)."""

    action: str
    decision: str | None
    rationale: str
    based_on: str | None

    @classmethod
    def read(cls, fields: Fields) -> SignOffForm:
        return cls(
            _text(fields, "action") or "",
            _text(fields, "decision"),
            _text(fields, "rationale") or "",
            _text(fields, "based_on"),
        )

    def submit(self, reviews: Reviews, principal: Principal, record_id: str) -> SignOff:
        return reviews.sign_off(principal, record_id, self.action, self.decision, self.rationale, self.based_on)


@dataclass(frozen=True)
class FindingForm:
    severity: str
    area: str
    text: str

    @classmethod
    def read(cls, fields: Fields) -> FindingForm:
        return cls(_text(fields, "severity") or "", _text(fields, "area") or "", _text(fields, "text") or "")

    def submit(self, reviews: Reviews, principal: Principal, record_id: str) -> Finding:
        return reviews.add_finding(principal, record_id, self.severity, self.area, self.text)


@dataclass(frozen=True)
class ResolutionForm:
    text: str

    @classmethod
    def read(cls, fields: Fields) -> ResolutionForm:
        return cls(_text(fields, "text") or "")

    def submit(self, reviews: Reviews, principal: Principal, finding_id: str) -> Finding:
        return reviews.resolve_finding(principal, finding_id, self.text)


@dataclass(frozen=True)
class JobForm:
    """A job's kind and its parameters: every other member given a value (the review API refuses unknown ones)."""

    kind: str
    params: dict[str, Any]

    @classmethod
    def read(cls, fields: Fields) -> JobForm:
        params = {k: v for k, v in fields.items() if k not in ("kind", CSRF_FIELD) and v is not None and v != ""}
        return cls(_text(fields, "kind") or "", params)

    def submit(self, reviews: Reviews, principal: Principal, record_id: str) -> Job:
        return reviews.request_job(principal, record_id, self.kind, self.params)


@dataclass(frozen=True)
class AssignForm:
    """Who a record goes to; missing or empty: back to the team."""

    assignee: str | None

    @classmethod
    def read(cls, fields: Fields) -> AssignForm:
        return cls(_text(fields, "assignee"))

    def submit(self, reviews: Reviews, principal: Principal, record_id: str) -> Assignment:
        return reviews.assign(principal, record_id, self.assignee)


@dataclass(frozen=True)
class UserChangeForm:
    op: str
    name: str
    role: str
    password: str

    @classmethod
    def read(cls, fields: Fields) -> UserChangeForm:
        return cls(*(_text(fields, k) or "" for k in ("op", "name", "role", "password")))

    def submit(self, reviews: Reviews, principal: Principal) -> Account:
        accounts = reviews.accounts
        if self.op == "add":
            return accounts.add(principal, self.name, self.role, self.password)
        if self.op == "set-role":
            return accounts.set_role(principal, self.name, self.role)
        if self.op == "disable":
            return accounts.disable(principal, self.name)
        if self.op == "enable":
            return accounts.enable(principal, self.name)
        if self.op == "unlock":
            return accounts.unlock(principal, self.name)
        raise BadRequest(f"unknown user change {self.op[:20]!r}: use add, set-role, disable, enable or unlock")


# -- query parameters --------------------------------------------------------------------------------
def page_number(params: Fields) -> int:
    value = params.get("page", "1")
    if not value.isdigit():
        raise BadRequest("page must be a positive number")
    return int(value)


@dataclass(frozen=True)
class QueueView:
    """The queue's reason filter (an unknown one lists nothing, and the page says so) and "mine"."""

    reason: str | None
    mine: bool

    @classmethod
    def read(cls, params: Fields) -> QueueView:
        reason = str(params.get("reason") or "").strip()[:40] or None
        return cls(reason, params.get("mine") in ("1", "true"))


def record_filter(params: Fields, principal: Principal | None = None) -> RecordFilter:
    """The records list's filters, each checked (a bad one is a 400); ``mine=1``: assigned to ``principal``."""
    get = lambda k: str(params.get(k) or "").strip() or None  # noqa: E731
    review = get("review")
    if review is not None:
        choice(review, REVIEW_STATES, "review state")
    try:
        since = normalise_time(get("since"), "since", store_format=True)
        until = normalise_time(get("until"), "until", store_format=True)
    except UserError as exc:
        raise BadRequest(str(exc)) from None
    text = get("q")
    if text is not None and len(text) > 200:
        raise BadRequest("the search text is too long: keep it under 200 characters")
    return RecordFilter(
        use_case=get("use_case"),
        since=since,
        until=until,
        operator=get("operator"),
        decision=get("decision"),
        review_state=review,
        replay_verdict=get("replay"),
        text=text,
        assignee=principal.name if principal is not None and get("mine") in ("1", "true") else None,
    )


@dataclass(frozen=True)
class Period:
    """The summary's use case and period (``since`` absent: the last 30 days; given empty: from the first record)."""

    use_case: str | None
    since: str | None
    until: str | None

    @classmethod
    def read(cls, params: Fields) -> Period:
        return cls(params.get("use_case") or None, params.get("since"), params.get("until") or None)
