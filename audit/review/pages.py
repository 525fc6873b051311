"""What the workspace's pages read: the queue, the records list, one record, the live summary.

The queue and the list come from the store's review index (refreshed first); everything a page
states about one record comes from the evidence itself, with that record's integrity checked
against the pinned key. Opening sealed content is allowed to the policy's roles only, and logged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from ..clock import normalise_time, utc_iso
from ..decision.mass import label_mass_of
from ..errors import UserError
from ..integrity.origin import log_identity
from ..integrity.record_check import RecordIntegrity, SignedLeaves, check_record
from ..integrity.trust import Pins, resolve_pins
from ..privacy.guard import PrivacyGuard, is_sealed
from ..privacy.policy import Policy
from ..report.dossier import Dossier, build_dossier
from ..report.evidence import Evidence, IntegrityStatus, gather
from ..report.integrity import log_status, run_verification
from ..report.oversight import build_oversight
from ..report.summary import Summary, build_summary
from ..report.trends import trends_of
from ..store import AuditStore
from ..store.findings import Finding
from ..store.review_index import IndexRow, RecordFilter
from ..store.reviews import SignOff
from .actions import override_choices
from .errors import BadRequest, Conflict, Forbidden
from .index_check import rebuild_if_edited
from .jobs import Job
from .names import same_person
from .queue import Page, QueuePage, queue_page, records_page, refresh
from .roles import READ, SIGN_OFF, Principal, allowed, permissions, require
from .trends import records_link
from .validate import check_id, stored_record, writable

if TYPE_CHECKING:
    from .jobs import ReviewJobs

SUMMARY_MAX_RECORDS = 20_000  # a live summary reads every record of the period
VERIFY_MAX_EVENTS = 20_000  # above this the live summary does not run a full verify per page


@dataclass
class FindingView:
    finding: Finding
    resolution: Finding | None = None

    @property
    def open(self) -> bool:
        return self.resolution is None


@dataclass
class RecordView:
    """A record page: the dossier (with this record's integrity statement) and what the user may do."""

    record_id: str
    dossier: Dossier
    integrity: RecordIntegrity
    row: IndexRow | None
    findings: list[FindingView]
    jobs: list[Job]
    can: dict[str, bool]
    four_eyes: str | None  # why this user may not sign off this record, if they may not
    sealed: bool
    clear_allowed: bool
    clear_shown: bool
    default_granularity: str
    reviews: list[SignOff] = field(default_factory=list)
    label_mass: float | None = None  # the labels' total probability at the answer's start (None: no decision)
    assignee: str | None = None
    reviewers: list[str] = field(default_factory=list)  # enabled users who may sign off (whom it may be assigned to)
    fields: list[str] = field(default_factory=list)  # the template's fields (a counterfactual varies them)
    override_choices: list[str] = field(default_factory=list)  # empty: the override is free text (no labels)

    @property
    def based_on(self) -> str:
        """The review state this page shows, which its sign-off form names ('' for no sign-off yet)."""
        return self.reviews[-1].id if self.reviews else ""


class ReviewPages:
    """The workspace's reads over one audit database; ``trusted_key`` as :class:`~audit.review.service.Reviews`."""

    def __init__(self, db_path: Path, privacy: PrivacyGuard, policy: Policy | None, jobs: ReviewJobs) -> None:
        self.db_path = db_path
        self.privacy = privacy
        self.policy = policy
        self.jobs = jobs
        self.trusted_key: Path | None = None
        self._signed = SignedLeaves()  # the log's signed prefix, checked once per checkpoint
        self._index_checked = False  # the review index checked against the evidence (once per process)
        self.index_notice: str | None = None  # said on the queue page when it had to be rebuilt

    def _refresh(self, store: AuditStore) -> None:
        """Bring the index up to date; when the workspace first opens the database (or the index claims more of the
        log than there is), check it against the evidence and rebuild it from the evidence if it was edited."""
        if not self._index_checked or int(store.review_index.meta("event_seq") or 0) > store.review_index.last_event():
            problems = rebuild_if_edited(store)
            self._index_checked = True
            if problems:
                self.index_notice = (
                    f"The review index did not match the evidence ({problems[0]}; {len(problems)} problem(s)): it was "
                    "rebuilt from the verified evidence. Run `llm-audit verify`: someone edited the database."
                )
        refresh(store)

    def queue(self, principal: Principal, reason: str | None = None, page: int = 1, mine: bool = False) -> QueuePage:
        require(principal, READ)
        with writable(self.db_path) as store:
            self._refresh(store)
            shown = queue_page(store, reason, page, assignee=principal.name if mine else None)
            shown.notice = self.index_notice
            return shown

    def records(self, principal: Principal, filters: RecordFilter, page: int = 1) -> tuple[Page, dict[str, list[str]]]:
        require(principal, READ)
        with writable(self.db_path) as store:
            self._refresh(store)
            return records_page(store, filters, page), store.review_index.choices()

    def choices(self, principal: Principal) -> dict[str, list[str]]:
        """The values the lists' filters offer (use cases, operators, decisions, replay verdicts)."""
        require(principal, READ)
        with writable(self.db_path) as store:
            self._refresh(store)
            return store.review_index.choices()

    def record(self, principal: Principal, record_id: str, *, clear: bool = False) -> RecordView:
        check_id(record_id)
        require(principal, READ)
        clear_allowed = self.policy is not None and principal.role in self.policy.clear_roles
        if clear and not clear_allowed:
            raise Forbidden(
                f"the role {principal.role} may not see sealed content in clear: the privacy policy allows "
                + (", ".join(self.policy.clear_roles) if self.policy and self.policy.clear_roles else "no role")
            )
        with writable(self.db_path) as store:
            self._refresh(store)
            record = stored_record(store, record_id)
            sealed = is_sealed(record)
            evidence = gather(store, record)
            shown = False
            if clear and sealed:
                evidence = self._opened(store, evidence)
                store.access.clear_view(
                    record.id, {"user": principal.name, "role": principal.role, "via": principal.via, "at": utc_iso()}
                )
                shown = True
            integrity = check_record(store, record.id, self._pins(), self._signed)
            status = IntegrityStatus(integrity.state, integrity.message)
            dossier = build_dossier(evidence, utc_iso()[:19] + "Z", status)
            found = store.findings.of_record(record.id)
            resolutions = {f.resolves: f for f in found if f.resolves}
            findings = [FindingView(f, resolutions.get(f.id)) for f in found if not f.resolves]
            row = store.review_index.get(record.id)
            reviews = store.reviews.of_record(record.id)
            assignee = store.assignments.current(record.id)
            reviewers = (
                [u.name for u in store.users.all_current() if not u.disabled and allowed(u.role, SIGN_OFF)]
                if store.users.exists()
                else []
            )
        four_eyes = None
        if same_person(principal.name, record.operator):
            four_eyes = (
                f"You recorded this decision (operator {record.operator}): four eyes, someone else must sign it off."
            )
        return RecordView(
            record.id,
            dossier,
            integrity,
            row,
            findings,
            self.jobs.of_record(record.id),
            permissions(principal.role),
            four_eyes,
            sealed,
            clear_allowed and sealed,
            shown,
            "field" if record.template else "token",
            reviews,
            label_mass_of(record.decision.label_logprobs).total if record.decision else None,
            assignee,
            reviewers,
            list(record.variables or {}) if record.prompt_kind == "template" else [],
            override_choices(record),
        )

    def _opened(self, store: AuditStore, evidence: Evidence) -> Evidence:
        try:
            evidence.record = self.privacy.open_stored(store, evidence.record, True)
        except UserError as exc:
            raise Conflict(str(exc)) from None
        evidence.field_attribution = self.privacy.open_result(evidence.field_attribution)
        evidence.token_attribution = self.privacy.open_result(evidence.token_attribution)
        evidence.attention = self.privacy.open_result(evidence.attention)
        return evidence

    def summary(
        self, principal: Principal, *, use_case: str | None = None, since: str | None = None, until: str | None = None
    ) -> Summary:
        require(principal, READ)
        try:
            since_n = normalise_time(since, "since", store_format=True)
            until_n = normalise_time(until, "until", store_format=True)
        except UserError as exc:
            raise BadRequest(str(exc)) from None
        if since_n is None and since is None:
            since_n = normalise_time(
                (datetime.now(UTC) - timedelta(days=30)).strftime("%Y-%m-%d"), "since", store_format=True
            )
        with AuditStore.open(self.db_path) as store:
            count = store.records.count(use_case=use_case, since=since_n, until=until_n)
            if count > SUMMARY_MAX_RECORDS:
                raise BadRequest(
                    f"{count:,} records match: narrow the period or the use case to at most {SUMMARY_MAX_RECORDS:,} "
                    "(or write the full summary with `llm-audit report`)"
                )
            records = [
                gather(store, r, full=False)
                for r in store.records.iter(use_case=use_case, since=since_n, until=until_n)
            ]
            if store.events.count() <= VERIFY_MAX_EVENTS:  # said of exactly these records (their generation events)
                seqs = [e.logged.seq if e.logged else None for e in records]
                integrity = log_status(run_verification(self._verify), seqs)
            else:
                integrity = IntegrityStatus(
                    "unavailable",
                    f"The log ({store.events.count():,} events) is not verified for every page view: run `llm-audit verify`.",
                )
            shown = [
                ("Use case", use_case or "all"),
                ("Since", since_n or "the first record"),
                ("Until", until_n or "the last record"),
            ]
            summary = build_summary(
                records,
                utc_iso()[:19] + "Z",
                integrity,
                shown,
                link="/records/{id}",
                oversight=build_oversight(store.reviews.oversight(use_case, since_n, until_n)),
                live=True,
                fairness=store.fairness.iter(),
            )
            summary.monitoring = trends_of(store, use_case, since_n, until_n, records_link)
            return summary

    def _pins(self) -> Pins:
        """The pins of this database's log (its origin), as ``verify`` resolves them."""
        if self.trusted_key is not None:
            return resolve_pins(self.db_path, [self.trusted_key])
        with AuditStore.open(self.db_path) as store:
            return resolve_pins(self.db_path, (), None, log_identity(store)) if store.events.exists() else Pins()

    def _verify(self):
        from ..integrity.verify import verify_database

        return verify_database(self.db_path, self._pins())
