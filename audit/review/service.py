"""``Reviews``: what the review workspace and ``llm-audit review`` / ``users`` do, as one Python API.

Every method takes the :class:`~audit.review.roles.Principal` acting, checks in a fixed order
(the id's form, then the role, then the request's content, then what is stored, then four
eyes) and only then writes, so a refused request stores nothing. Pages read the records list
and the queue from the store's review index (refreshed first) and everything they state about
one record from the evidence itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ..clock import normalise_time, utc_iso
from ..errors import UserError
from ..ids import uuid7
from ..integrity.record_check import RecordIntegrity, SignedLeaves, check_record
from ..integrity.trust import Pins, resolve_pins
from ..privacy.guard import PrivacyGuard, is_sealed
from ..privacy.policy import Policy
from ..record import GenerationRecord
from ..report.dossier import Dossier, build_dossier
from ..report.evidence import Evidence, IntegrityStatus, gather
from ..report.integrity import log_status, run_verification
from ..report.oversight import build_oversight
from ..report.summary import Summary, build_summary
from ..report.trends import trends_of
from ..store import AuditStore, check_writable
from ..store.findings import Finding
from ..store.review_index import IndexRow, RecordFilter
from ..store.reviews import ACCEPT, OVERRIDE, SignOff
from .accounts import Accounts, LoginPolicy
from .errors import BadRequest, Conflict, Forbidden, NotFound
from .jobs import KINDS, Job, JobQueue
from .queue import Page, QueuePage, queue_page, records_page, refresh
from .roles import ADD_FINDING, READ, REQUEST_JOB, RESOLVE_FINDING, SIGN_OFF, Principal, permissions, require
from .trends import records_link

RECORD_ID = re.compile(r"^[0-9a-f][0-9a-f-]{7,35}$")
SEVERITIES = ("low", "medium", "high", "critical")
AREAS = ("conceptual-soundness", "data", "outcome", "implementation", "monitoring", "other")
REVIEW_STATES = ("unreviewed", "accepted", "overridden")
MAX_TEXT, MAX_DECISION = 4000, 200
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


def check_record_id(value: str) -> str:
    if not isinstance(value, str) or not RECORD_ID.match(value):
        raise BadRequest(f"{str(value)[:60]!r} is not a record id: record ids are UUIDs such as 01a2259f-3082-7a9f-…")
    return value


def _text(value: Any, what: str, *, required: bool, limit: int = MAX_TEXT) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if value is not None and not isinstance(value, str):
        raise BadRequest(f"{what} must be text")
    if required and not text:
        raise BadRequest(f"{what} is required")
    if len(text) > limit:
        raise BadRequest(f"{what} is {len(text)} characters long: keep it under {limit}")
    return text


def _choice(value: Any, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise BadRequest(f"{what} {str(value)[:40]!r} is not one of {', '.join(allowed)}")
    return value


class Reviews:
    """The review workspace over one audit database. ``runner`` (the Auditor) runs requested jobs;
    ``trusted_key`` pins the key record pages and the summary check checkpoints against (default: the
    trust file's keys, as ``llm-audit verify``)."""

    def __init__(
        self,
        db_path: Path,
        privacy: PrivacyGuard,
        policy: Policy | None,
        runner: Any = None,
        *,
        login: LoginPolicy | None = None,
    ) -> None:
        self.db_path = Path(db_path)
        self.privacy = privacy
        self.policy = policy
        self.runner = runner
        self.accounts = Accounts(self.db_path, login)
        self.trusted_key: Path | None = None
        self._jobs: JobQueue | None = None
        self._signed = SignedLeaves()  # the log's signed prefix, checked once per checkpoint

    @staticmethod
    def on(auditor: Any) -> Reviews:
        """The review workspace of ``auditor``'s database: sign-offs, findings, users, the queue and jobs
        (run through ``auditor``'s own explain, attention and replay), with its privacy guard and policy."""
        return Reviews(auditor.db_path, auditor.privacy, auditor.policy, auditor)

    # -- who is acting ---------------------------------------------------------------------------
    def session_user(self, name: str, via: str = "web") -> Principal:
        with AuditStore.open(self.db_path) as store:
            return self.accounts.principal(store, name, via)

    def token_user(self, token: str) -> Principal:
        with AuditStore.open(self.db_path) as store:
            return self.accounts.by_token(store, token)

    def cli_user(self, operator: str) -> Principal:
        """The CLI's operator as a workspace user: a CLI sign-off needs a registered, enabled account."""
        try:
            return self.session_user(operator, "cli")
        except UserError:
            raise Forbidden(
                f"the operator {operator!r} is not an enabled workspace user: add them with "
                f"`llm-audit users add {operator} --role reviewer`, or pass --operator with your user name"
            ) from None

    # -- reading ---------------------------------------------------------------------------------
    def _store(self) -> AuditStore:
        check_writable(self.db_path)
        return AuditStore.open(self.db_path, write=True)

    def queue(self, principal: Principal, reason: str | None = None, page: int = 1) -> QueuePage:
        require(principal, READ)
        with self._store() as store:
            refresh(store)
            return queue_page(store, reason, page)

    def record_filter(self, values: dict[str, Any]) -> RecordFilter:
        """The records list's filters from request parameters, each checked (a bad one is a 400)."""
        get = lambda k: str(values.get(k) or "").strip() or None  # noqa: E731
        review = get("review")
        if review is not None:
            _choice(review, REVIEW_STATES, "review state")
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
        )

    def records(self, principal: Principal, filters: RecordFilter, page: int = 1) -> tuple[Page, dict[str, list[str]]]:
        """A page of the records list and the values the filter form offers."""
        require(principal, READ)
        with self._store() as store:
            refresh(store)
            return records_page(store, filters, page), store.review_index.choices()

    def _record(self, store: AuditStore, record_id: str) -> GenerationRecord:
        try:
            return store.records.get(check_record_id(record_id))
        except BadRequest:
            raise
        except UserError:
            raise NotFound(f"no record {record_id} in this database") from None

    def record(self, principal: Principal, record_id: str, *, clear: bool = False) -> RecordView:
        """The record page; ``clear``: with sealed content opened (policy roles only; the viewing is logged)."""
        check_record_id(record_id)
        require(principal, READ)
        clear_allowed = self.policy is not None and principal.role in self.policy.clear_roles
        if clear and not clear_allowed:
            raise Forbidden(
                f"the role {principal.role} may not see sealed content in clear: the privacy policy allows "
                + (", ".join(self.policy.clear_roles) if self.policy and self.policy.clear_roles else "no role")
            )
        with self._store() as store:
            refresh(store)
            record = self._record(store, record_id)
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
        four_eyes = None
        if principal.name.casefold() == record.operator.casefold():
            four_eyes = (
                f"You recorded this decision (operator {record.operator}): four eyes, someone else must sign it off."
            )
        jobs = self._jobs.of_record(record.id) if self._jobs else []
        return RecordView(
            record.id,
            dossier,
            integrity,
            row,
            findings,
            jobs,
            permissions(principal.role),
            four_eyes,
            sealed,
            clear_allowed and sealed,
            shown,
            "field" if record.template else "token",
            reviews,
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
        """The summary report, live, over a period (default: the last 30 days), with review statistics."""
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
            if store.events.count() <= VERIFY_MAX_EVENTS:
                integrity = log_status(run_verification(self._verify))
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
            records = store.records.iter(use_case=use_case, since=since_n, until=until_n)
            summary = build_summary(
                (gather(store, r, full=False) for r in records),
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
        return resolve_pins(self.db_path, [self.trusted_key] if self.trusted_key is not None else [])

    def _verify(self):
        from ..integrity.verify import verify_database

        return verify_database(self.db_path, self._pins())

    # -- acting ------------------------------------------------------------------------------------
    def sign_off(
        self, principal: Principal, record_id: str, action: str, decision: str | None = None, rationale: str | None = ""
    ) -> SignOff:
        """Accept the model's output, or override it with ``decision`` (a ``rationale`` is then required)."""
        check_record_id(record_id)
        require(principal, SIGN_OFF)
        _choice(action, (ACCEPT, OVERRIDE), "action")
        decision_text = _text(decision, "the reviewer's decision", required=action == OVERRIDE, limit=MAX_DECISION)
        if action == ACCEPT and decision_text:
            raise BadRequest("an accept keeps the model's decision: leave out the decision, or override instead")
        why = _text(rationale, "a rationale (required for an override)", required=action == OVERRIDE)
        with self._store() as store:
            record = self._record(store, record_id)
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

    def add_finding(self, principal: Principal, record_id: str, severity: str, area: str, text: str | None) -> Finding:
        check_record_id(record_id)
        require(principal, ADD_FINDING)
        _choice(severity, SEVERITIES, "severity")
        _choice(area, AREAS, "area")
        body = _text(text, "the finding's text", required=True)
        with self._store() as store:
            record = self._record(store, record_id)
            finding = Finding(
                uuid7(), record.id, principal.name, principal.role, severity, area, body, None, principal.via, utc_iso()
            )
            store.findings.append(finding)
        return finding

    def resolve_finding(self, principal: Principal, finding_id: str, text: str | None) -> Finding:
        check_record_id(finding_id)
        require(principal, RESOLVE_FINDING)
        body = _text(text, "the resolution's text", required=True)
        with self._store() as store, store.transaction():
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
                body,
                finding.id,
                principal.via,
                utc_iso(),
            )
            store.findings.append(resolution)
        return resolution

    # -- jobs ----------------------------------------------------------------------------------------
    @property
    def jobs(self) -> JobQueue:
        if self._jobs is None:
            self._jobs = JobQueue(
                {"explain": self._run_explain, "attention": self._run_attention, "replay": self._run_replay},
                self._log_job,
            )
        return self._jobs

    def request_job(self, principal: Principal, record_id: str, kind: str, params: dict[str, Any] | None = None) -> Job:
        """Queue an explanation, attention pass or replay of a record; the request is logged at once."""
        check_record_id(record_id)
        require(principal, REQUEST_JOB)
        _choice(kind, KINDS, "job kind")
        if self.runner is None:
            raise BadRequest("this workspace has no model to run jobs with: start it with `llm-audit ui`")
        params = dict(params or {})
        with self._store() as store:
            record = self._record(store, record_id)
            params = self._job_params(kind, params, record)
            job = self.jobs.new(kind, record.id, params, principal.name, principal.role)
            store.access.job_requested(
                job.id,
                {
                    "record_id": record.id,
                    "kind": kind,
                    "params": params,
                    "user": principal.name,
                    "role": principal.role,
                    "via": principal.via,
                    "at": job.requested_at,
                },
            )
        return self.jobs.submit(job)

    @staticmethod
    def _job_params(kind: str, params: dict[str, Any], record: GenerationRecord) -> dict[str, Any]:
        if kind == "explain":
            from ..attribution.request import check_request

            unknown = sorted(set(params) - {"method", "granularity"})
            if unknown:
                raise BadRequest(f"unknown explain parameter(s) {', '.join(unknown)}: use method and granularity")
            method = str(params.get("method") or "feature-ablation")
            granularity = str(params.get("granularity") or ("field" if record.template else "token"))
            try:
                check_request(method, granularity, {}).check_record(record)
            except UserError as exc:
                raise BadRequest(str(exc)) from None
            return {"method": method, "granularity": granularity}
        if kind == "attention":
            unknown = sorted(set(params) - {"heads"})
            if unknown:
                raise BadRequest(f"unknown attention parameter(s) {', '.join(unknown)}: use heads")
            return {"heads": bool(params.get("heads", False))}
        if params:
            raise BadRequest("a replay takes no parameters")
        return {}

    def close(self) -> None:
        """Stop the job worker (a job running now is finished first, up to a few seconds)."""
        if self._jobs is not None:
            self._jobs.stop()

    def job(self, principal: Principal, job_id: str) -> Job:
        check_record_id(job_id)
        require(principal, READ)
        found = self._jobs.get(job_id) if self._jobs else None
        if found is None:
            raise NotFound(f"no job {job_id} in this workspace (jobs are kept until the server restarts)")
        return found

    def _run_explain(self, record_id: str, params: dict[str, Any], say) -> tuple[str, str]:
        say(f"computing {params['method']} by {params['granularity']}")
        result = self.runner.explain(record_id, params["method"], params["granularity"])
        return result.id, f"{result.method} explanation by {result.granularity} stored ({result.seconds:.1f} s)"

    def _run_attention(self, record_id: str, params: dict[str, Any], say) -> tuple[str, str]:
        say("capturing attention" + (" and head importance" if params.get("heads") else ""))
        result = self.runner.attention(record_id, params.get("heads", False))
        return result.id, f"attention analysis stored ({result.seconds:.1f} s)"

    def _run_replay(self, record_id: str, params: dict[str, Any], say) -> tuple[str, str]:
        say("regenerating the record with its model")
        result = self.runner.replay(record_id)
        return result.id, f"replay verdict: {result.verdict} ({result.seconds:.1f} s)"

    def _log_job(self, job: Job) -> None:
        with AuditStore.open(self.db_path, write=True) as store:
            store.access.job_finished(
                job.id,
                {
                    "record_id": job.record_id,
                    "kind": job.kind,
                    "state": job.state,
                    "result_id": job.result_id,
                    "error": job.error,
                    "seconds": round(job.seconds, 3),
                    "at": utc_iso(),
                },
            )
