"""Explanation, attention, replay and counterfactual requests from the workspace, run one at a time by a worker thread.

A job is requested by a validator on a record page (or ``POST /api/records/{id}/jobs``); the request
is logged (``job-requested``) at once, then the worker runs it through the Auditor it was handed
(the same ``explain`` / ``attention`` / ``replay`` / ``counterfactual`` a user runs from the CLI, which
store the result and its own event) and logs how it ended (``job-finished``: the result's id, or the
error). One worker, because one model is loaded and a CPU runs one pass well at a time.

The log is the jobs' memory: a request identical to one queued or running (same record, kind and
parameters) is answered with that job, and nothing new is logged; a job requested but never
finished when the workspace starts (the server was killed mid-job) is logged as failed then and
shown so. Stopping the workspace (Ctrl-C, SIGTERM) logs the jobs still queued as failed and lets
the running one finish: the worker is not a daemon, so the process never exits while it is
inside the model (which aborts a process: "terminate called without an active exception").
:class:`ReviewJobs` is the workspace's side: it checks a request (role, kind, parameters against the
record), logs it, and hands it to the :class:`JobQueue`.
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
from ..store import AuditStore
from .errors import BadRequest, NotFound
from .job_params import KINDS, job_params
from .roles import READ, REQUEST_JOB, Principal, require
from .validate import check_id, choice, stored_record, writable

STOPPED = "the workspace stopped before this job finished: request it again"
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
                # Not a daemon: the interpreter waits for a running job instead of killing it inside the model.
                self._worker = threading.Thread(target=self._run, name="llm-audit-jobs", daemon=False)
                self._worker.start()
            self._lock.notify_all()
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def same(self, kind: str, record_id: str, params: dict[str, Any]) -> Job | None:
        """The job queued or running with this kind, record and parameters, if any."""
        with self._lock:
            for job in self._jobs.values():
                if job.pending and (job.kind, job.record_id, job.params) == (kind, record_id, params):
                    return job
        return None

    def adopt(self, job: Job) -> None:
        """Show a job that is already settled (one a restart found unfinished in the log)."""
        with self._lock:
            self._jobs[job.id] = job
            self._trim()

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

    def stop(self, timeout: float | None = None) -> list[Job]:
        """Refuse new jobs, log the queued ones as failed (they never ran), and wait for the running one
        (``timeout``: at most that long; None: until it ends). The jobs that were dropped."""
        with self._lock:
            self._stopped = True
            dropped = list(self._pending)
            self._pending.clear()
            for job in dropped:
                job.state, job.stage, job.error, job.settled = FAILED, "failed", STOPPED, True
            self._lock.notify_all()
            worker = self._worker
        for job in dropped:
            try:
                self.log(job)
            except Exception:  # noqa: BLE001 - the next start finds it unfinished and logs it then
                traceback.print_exc()
        if worker is not None and worker is not threading.current_thread():
            worker.join(timeout)
        return dropped

    @property
    def running(self) -> Job | None:
        with self._lock:
            return next((j for j in self._jobs.values() if j.state == RUNNING), None)

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
                    self._lock.wait(1.0)
                    if (
                        not threading.main_thread().is_alive()
                    ):  # the program ends without close(): so does an idle worker
                        self._stopped = True
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
        self._requesting = threading.Lock()  # one request at a time: two identical ones make one job

    @property
    def queue(self) -> JobQueue:
        if self.started is None:
            runners = {
                "explain": self._run_explain,
                "attention": self._run_attention,
                "replay": self._run_replay,
                "counterfactual": self._run_counterfactual,
            }
            self.started = JobQueue(runners, self._log)
        return self.started

    def recover(self) -> list[Job]:
        """Log as failed every job the log shows requested and never finished (the workspace stopped
        without finishing it), and show them so on their record pages; the jobs recovered."""
        if not self.db_path.exists():
            return []
        recovered = []
        with writable(self.db_path) as store:
            unfinished = store.access.unfinished_jobs()
        for job_id, p in unfinished:
            job = Job(
                job_id,
                str(p.get("kind", "")),
                str(p.get("record_id", "")),
                dict(p.get("params") or {}),
                str(p.get("user", "")),
                str(p.get("role", "")),
                str(p.get("at", "")),
                state=FAILED,
                stage="failed",
                error="the workspace stopped while this job was queued or running: request it again",
                settled=True,
            )
            self._log(job)
            self.queue.adopt(job)
            recovered.append(job)
        return recovered

    def request(self, principal: Principal, record_id: str, kind: str, params: dict[str, Any] | None = None) -> Job:
        check_id(record_id)
        require(principal, REQUEST_JOB)
        choice(kind, KINDS, "job kind")
        if self.runner is None:
            raise BadRequest("this workspace has no model to run jobs with: start it with `llm-audit ui`")
        params = dict(params or {})
        with self._requesting, writable(self.db_path) as store:
            record = stored_record(store, record_id)
            params = job_params(kind, params, record)
            same = self.queue.same(kind, record.id, params)
            if same is not None:  # the same work is already queued or running: one job, one result
                return same
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

    def close(self, timeout: float | None = None) -> None:
        if self.started is not None:
            self.started.stop(timeout)

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

    def _run_counterfactual(self, record_id: str, params: dict[str, Any], say) -> tuple[str, str]:
        say("re-scoring the decision with " + ", ".join(params["vary"]) + " changed")
        result = self.runner.counterfactual(record_id, params["vary"])
        flips = len(result.flips)
        return result.id, f"counterfactual stored: {flips} of {len(result.alternatives)} alternatives flip the decision"

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
