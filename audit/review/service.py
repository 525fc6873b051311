"""``Reviews``: what the review workspace and ``llm-audit review`` / ``users`` do, as one Python API.

Every method takes the :class:`~audit.review.roles.Principal` acting, checks in a fixed order
(the id's form, then the role, then the request's content, then what is stored, then four
eyes) and only then writes, so a refused request stores nothing. The work lives in one module
per seam, which this class puts together over one database: who is acting (``identity.py``),
what pages read (``pages.py``), the writes (``actions.py``) and the jobs (``jobs.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..pack import ExportResult
from ..privacy.guard import PrivacyGuard
from ..privacy.policy import Policy
from ..report.summary import Summary
from ..store.assignments import Assignment
from ..store.findings import Finding
from ..store.review_index import RecordFilter
from ..store.reviews import SignOff
from .accounts import Accounts, LoginPolicy
from .actions import ReviewActions
from .downloads import Download, Downloads
from .exports import ReviewExports
from .identity import Identity, LocalAdmin
from .jobs import Job, JobQueue, ReviewJobs
from .pages import FindingView, RecordView, ReviewPages
from .queue import Page, QueuePage
from .roles import Principal
from .validate import AREAS, REVIEW_STATES, SEVERITIES, check_id
from .worklist import Worklist

__all__ = ["AREAS", "REVIEW_STATES", "SEVERITIES", "FindingView", "RecordView", "Reviews", "check_id"]


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
        self.identity = Identity(self.db_path, self.accounts)
        self.job_requests = ReviewJobs(self.db_path, runner)
        self.pages = ReviewPages(self.db_path, privacy, policy, self.job_requests)
        self.actions = ReviewActions(self.db_path)
        self.worklist = Worklist(self.db_path)
        self.downloads = Downloads(self.db_path, self.pages)
        self.exports = ReviewExports(self.db_path, runner, lambda: self.pages.trusted_key)

    @staticmethod
    def on(auditor: Any) -> Reviews:
        """The review workspace of ``auditor``'s database: sign-offs, findings, users, the queue and jobs
        (run through ``auditor``'s own explain, attention and replay), with its privacy guard and policy."""
        return Reviews(auditor.db_path, auditor.privacy, auditor.policy, auditor)

    @property
    def trusted_key(self) -> Path | None:
        return self.pages.trusted_key

    @trusted_key.setter
    def trusted_key(self, key: Path | None) -> None:
        self.pages.trusted_key = key

    # -- who is acting ---------------------------------------------------------------------------
    def session_user(self, name: str, via: str = "web", generation: str | None = None) -> Principal:
        return self.identity.session_user(name, via, generation)

    def token_user(self, token: str) -> Principal:
        return self.identity.token_user(token)

    def cli_user(self, operator: str) -> Principal:
        """The CLI's operator as a workspace user: a CLI sign-off needs a registered, enabled account."""
        return self.identity.cli_user(operator)

    def local_admin(self, operator: str) -> LocalAdmin:
        """User changes from the command line, by whoever holds the database file, logged as ``operator``."""
        return self.identity.local_admin(operator)

    # -- reading ---------------------------------------------------------------------------------
    def queue(self, principal: Principal, reason: str | None = None, page: int = 1, mine: bool = False) -> QueuePage:
        """A page of the queue (``mine``: only the records assigned to ``principal``)."""
        return self.pages.queue(principal, reason, page, mine)

    def records(self, principal: Principal, filters: RecordFilter, page: int = 1) -> tuple[Page, dict[str, list[str]]]:
        """A page of the records list and the values the filter form offers."""
        return self.pages.records(principal, filters, page)

    def choices(self, principal: Principal) -> dict[str, list[str]]:
        """The values the lists' filters offer: the same use cases on the records page and the summary."""
        return self.pages.choices(principal)

    def record(self, principal: Principal, record_id: str, *, clear: bool = False) -> RecordView:
        """The record page; ``clear``: with sealed content opened (policy roles only; the viewing is logged)."""
        return self.pages.record(principal, record_id, clear=clear)

    def summary(
        self, principal: Principal, *, use_case: str | None = None, since: str | None = None, until: str | None = None
    ) -> Summary:
        """The summary report, live, over a period (default: the last 30 days), with review statistics."""
        return self.pages.summary(principal, use_case=use_case, since=since, until=until)

    # -- acting ------------------------------------------------------------------------------------
    def sign_off(
        self,
        principal: Principal,
        record_id: str,
        action: str,
        decision: str | None = None,
        rationale: str | None = "",
        based_on: str | None = None,
    ) -> SignOff:
        """Accept the model's output, or override it with ``decision`` (a ``rationale`` is then required).
        ``based_on``: the id of the record's latest sign-off the reviewer saw (None: none yet); 409 if stale."""
        return self.actions.sign_off(principal, record_id, action, decision, rationale, based_on)

    def add_finding(self, principal: Principal, record_id: str, severity: str, area: str, text: str | None) -> Finding:
        return self.actions.add_finding(principal, record_id, severity, area, text)

    def resolve_finding(self, principal: Principal, finding_id: str, text: str | None) -> Finding:
        return self.actions.resolve_finding(principal, finding_id, text)

    def assign(self, principal: Principal, record_id: str, assignee: str | None) -> Assignment:
        """Give a record to a reviewer (None: back to the team); stored and logged as evidence."""
        return self.worklist.assign(principal, record_id, assignee)

    def next_unsigned(
        self, principal: Principal, after: str, reason: str | None = None, mine: bool = False
    ) -> str | None:
        """The next unsigned record of the queue that ``principal`` may sign, after ``after``."""
        return self.worklist.next_unsigned(principal, after, reason, mine)

    # -- downloads (each logged) ------------------------------------------------------------------------
    def download_dossier(self, principal: Principal, record_id: str, fmt: str = "html") -> Download:
        return self.downloads.dossier(principal, record_id, fmt)

    def download_records(self, principal: Principal, filters: RecordFilter) -> Download:
        return self.downloads.records_csv(principal, filters)

    def download_queue(self, principal: Principal, reason: str | None = None, mine: bool = False) -> Download:
        return self.downloads.queue_csv(principal, reason, mine)

    # -- evidence packs ------------------------------------------------------------------------------
    def export_list(self, principal: Principal, filters: RecordFilter) -> ExportResult:
        """The records list of ``filters`` as a zipped evidence pack (validator and admin; logged as an event)."""
        return self.exports.export(principal, filters)

    def export_file(self, principal: Principal, pack_id: str) -> Path:
        return self.exports.file(principal, pack_id)

    # -- jobs ----------------------------------------------------------------------------------------
    @property
    def jobs(self) -> JobQueue:
        return self.job_requests.queue

    def request_job(self, principal: Principal, record_id: str, kind: str, params: dict[str, Any] | None = None) -> Job:
        """Queue an explanation, attention pass or replay of a record; the request is logged at once."""
        return self.job_requests.request(principal, record_id, kind, params)

    def job(self, principal: Principal, job_id: str) -> Job:
        return self.job_requests.get(principal, job_id)

    def recover_jobs(self) -> list[Job]:
        """At start: log as failed the jobs a stopped workspace left requested and unfinished."""
        return self.job_requests.recover()

    def close(self, timeout: float | None = None) -> None:
        """Stop the job worker: queued jobs are logged as failed, a running one is finished first."""
        self.job_requests.close(timeout)
