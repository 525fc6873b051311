"""Explanation, attention and replay requests from the workspace, run one at a time by a worker thread.

A job is requested by a validator on a record page (or ``POST /api/records/{id}/jobs``); the request
is logged (``job-requested``) at once, then the worker runs it through the Auditor it was handed
(the same ``explain`` / ``attention`` / ``replay`` a user runs from the CLI, which store the result
and its own event) and logs how it ended (``job-finished``: the result's id, or the error). One
worker, because one model is loaded and a CPU runs one pass well at a time. The queue of pending
jobs lives in the server's memory: a restart drops jobs not yet run, and the log shows them as
requested and never finished. :class:`ReviewJobs` is the workspace's side: it checks a request
(role, kind, parameters against the record), logs it, and hands it to the :class:`JobQueue`.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..clock import utc_iso
from ..errors import UserError
from ..ids import uuid7
from ..record import GenerationRecord
from ..store import AuditStore
from .errors import BadRequest, NotFound
from .roles import READ, REQUEST_JOB, Principal, require
from .validate import check_id, choice, stored_record, writable

KINDS = ("explain", "attention", "replay")
QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"


@dataclass
class Job:
    id: str
    kind: str
    record_id: str
    params: dict[str, Any]
    requested_by: str
    role: str
    requested_at: str
    state: str = QUEUED
    stage: str = "waiting for the worker"
    started: float | None = None
    finished: float | None = None
    result_id: str | None = None
    summary: str | None = None
    error: str | None = None
    position: int = 0  # jobs ahead of this one while queued
    seconds: float = field(default=0.0)
    settled: bool = False  # finished and its outcome logged

    def to_dict(self) -> dict[str, Any]:
        elapsed = (self.finished or time.monotonic()) - self.started if self.started else 0.0
        return {
            "id": self.id,
            "kind": self.kind,
            "record_id": self.record_id,
            "params": self.params,
            "requested_by": self.requested_by,
            "requested_at": self.requested_at,
            "state": self.state,
            "stage": self.stage,
            "position": self.position,
            "elapsed_s": round(elapsed, 1),
            "result_id": self.result_id,
            "summary": self.summary,
            "error": self.error,
        }

    @property
    def pending(self) -> bool:
        return self.state in (QUEUED, RUNNING)


# kind -> run(record_id, params, say) -> (result id, one-line summary)
Runner = Callable[[str, dict[str, Any], Callable[[str], None]], tuple[str, str]]


class JobQueue:
    """Jobs in request order; ``runners`` does the work, ``log`` records the outcome (both handed in)."""

    def __init__(self, runners: dict[str, Runner], log: Callable[[Job], None], keep: int = 500) -> None:
        self.runners = runners
        self.log = log
        self._jobs: dict[str, Job] = {}
        self._pending: deque[Job] = deque()
        self._keep = keep
        self._lock = threading.Condition()
        self._worker: threading.Thread | None = None
        self._stopped = False

    def new(self, kind: str, record_id: str, params: dict[str, Any], requested_by: str, role: str) -> Job:
        return Job(uuid7(), kind, record_id, params, requested_by, role, utc_iso())

    def submit(self, job: Job) -> Job:
        with self._lock:
            if self._stopped:
                raise UserError("the workspace is shutting down: request the job again after it restarts")
            self._jobs[job.id] = job
            self._pending.append(job)
            self._renumber()
            self._trim()
            if self._worker is None:
                self._worker = threading.Thread(target=self._run, name="llm-audit-jobs", daemon=True)
                self._worker.start()
            self._lock.notify_all()
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def of_record(self, record_id: str) -> list[Job]:
        with self._lock:
            return [j for j in self._jobs.values() if j.record_id == record_id]

    def wait(self, job_id: str, timeout: float) -> Job | None:
        """Block until ``job_id`` is done or failed, at most ``timeout`` seconds (for scripts and tests)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                job = self._jobs.get(job_id)
                if job is None or job.settled:
                    return job
                left = deadline - time.monotonic()
                if left <= 0:
                    return job
                self._lock.wait(left)

    def stop(self, timeout: float = 5.0) -> None:
        with self._lock:
            self._stopped = True
            self._lock.notify_all()
            worker = self._worker
        if worker is not None:
            worker.join(timeout)

    def _renumber(self) -> None:
        for i, job in enumerate(self._pending):
            job.position = i

    def _trim(self) -> None:
        done = [j for j in self._jobs.values() if not j.pending]
        for job in done[: max(0, len(self._jobs) - self._keep)]:
            del self._jobs[job.id]

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._pending and not self._stopped:
                    self._lock.wait()
                if self._stopped:
                    return
                job = self._pending.popleft()
                self._renumber()
                job.state, job.stage, job.started = RUNNING, "starting", time.monotonic()

            def say(stage: str, job: Job = job) -> None:
                job.stage = stage

            try:
                job.result_id, job.summary = self.runners[job.kind](job.record_id, job.params, say)
                state, stage = DONE, "done"
            except UserError as exc:
                job.error, state, stage = str(exc), FAILED, "failed"
            except Exception as exc:  # noqa: BLE001 - a job's bug must not kill the worker
                job.error, state, stage = f"{type(exc).__name__}: {exc}", FAILED, "failed"
                traceback.print_exc()
            with self._lock:
                job.finished = time.monotonic()
                job.seconds = job.finished - (job.started or job.finished)
                job.stage = "logging the outcome"
            try:  # logged before it is shown: whoever sees "done" finds the job-finished event
                self.log(replace(job, state=state, stage=stage))
            except Exception:  # noqa: BLE001 - the result is stored; a failed log line is reported, not fatal
                traceback.print_exc()
            with self._lock:
                job.state, job.stage = state, stage
                job.settled = True
                self._lock.notify_all()


class ReviewJobs:
    """The jobs of one workspace: requested by a principal, logged, run through ``runner`` (the Auditor)."""

    def __init__(self, db_path: Path, runner: Any = None) -> None:
        self.db_path = db_path
        self.runner = runner
        self.started: JobQueue | None = None  # made by the first request

    @property
    def queue(self) -> JobQueue:
        if self.started is None:
            self.started = JobQueue(
                {"explain": self._run_explain, "attention": self._run_attention, "replay": self._run_replay},
                self._log,
            )
        return self.started

    def request(self, principal: Principal, record_id: str, kind: str, params: dict[str, Any] | None = None) -> Job:
        check_id(record_id)
        require(principal, REQUEST_JOB)
        choice(kind, KINDS, "job kind")
        if self.runner is None:
            raise BadRequest("this workspace has no model to run jobs with: start it with `llm-audit ui`")
        params = dict(params or {})
        with writable(self.db_path) as store:
            record = stored_record(store, record_id)
            params = job_params(kind, params, record)
            job = self.queue.new(kind, record.id, params, principal.name, principal.role)
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
        return self.queue.submit(job)

    def get(self, principal: Principal, job_id: str) -> Job:
        check_id(job_id)
        require(principal, READ)
        found = self.started.get(job_id) if self.started else None
        if found is None:
            raise NotFound(f"no job {job_id} in this workspace (jobs are kept until the server restarts)")
        return found

    def of_record(self, record_id: str) -> list[Job]:
        return self.started.of_record(record_id) if self.started else []

    def close(self) -> None:
        if self.started is not None:
            self.started.stop()

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

    def _log(self, job: Job) -> None:
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


def job_params(kind: str, params: dict[str, Any], record: GenerationRecord) -> dict[str, Any]:
    """A job's parameters, checked against its record, with the defaults filled in (what is logged and run)."""
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
