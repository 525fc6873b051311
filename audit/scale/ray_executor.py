"""The Ray executor: a pool of actors, each loading the model once, fed one record at a time.

Ray is imported only here and only when a run asks for it. Tasks carry the record's content
(workers never open the database) and results come back with ``ray.wait`` in completion
order, so the driver stores each as soon as it arrives.

Failure handling: Ray restarts a dead actor (``max_restarts``; the new process loads the
model again) and the driver, not Ray, resubmits the record that was running on it
(``max_task_retries=0``). Ray's transparent task retries would hide which records were
retried; resubmitting here lets the summary name them, and the driver's store-once check
makes a resubmission harmless even if the dead attempt had already sent its result.
"""
from __future__ import annotations

import logging
from collections import deque
from typing import Any, Iterator

from ..errors import UserError
from ..record import GenerationRecord
from .work import ModelHost, ModelSpec, Outcome, compute_outcome

INSTALL_HINT = "pip install 'llm-audit[ray]'"


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UserError(f"--executor ray needs Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


class RayWorker:
    """The actor's body (wrapped with ``ray.remote`` at run time, so importing this needs no Ray)."""

    def __init__(self, spec: ModelSpec, load_default: bool, threads: int | None) -> None:
        import torch

        if threads:
            torch.set_num_threads(threads)
        self.host = ModelHost(spec)
        if load_default:
            _ = self.host.default  # once per actor (and once again after a restart)

    def ready(self) -> str:
        return self.host.name

    def compute(self, work: Any, record: GenerationRecord, attempt: int) -> Outcome:
        return compute_outcome(work, self.host, record, attempts=attempt)


class RayExecutor:
    """``workers`` actors (default: as many as the cluster has CPUs / ``cpus_per_worker``).

    ``address``: ``None`` starts a local Ray (or joins ``$RAY_ADDRESS``), ``"auto"`` joins the
    cluster this machine belongs to, ``"ray://host:10001"`` a remote one. If Ray is already
    initialised in this process (tests, notebooks) it is used as it is and left running.
    """

    name = "ray"

    def __init__(
        self,
        spec: ModelSpec,
        *,
        address: str | None = None,
        workers: int | None = None,
        cpus_per_worker: float = 1,
        threads_per_worker: int | None = None,
        max_restarts: int = 2,
        retries: int = 2,
    ) -> None:
        if workers is not None and workers < 1:
            raise UserError(f"--workers must be at least 1 (got {workers})")
        if not cpus_per_worker > 0:
            raise UserError(f"--cpus-per-worker must be positive (got {cpus_per_worker})")
        self.spec = spec
        self.address = address
        self.workers = workers or 0
        self.cpus_per_worker = cpus_per_worker
        self.threads_per_worker = threads_per_worker or max(1, int(cpus_per_worker))
        self.max_restarts = max_restarts
        self.retries = retries
        self.ray = import_ray()

    def _connect(self) -> bool:
        """Initialise Ray unless it already is; returns whether this executor started it."""
        ray = self.ray
        if ray.is_initialized():
            return False
        try:
            ray.init(address=self.address, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise UserError(f"cannot connect to the Ray cluster at {self.address or 'a new local instance'} ({exc}): check --address") from None
        return True

    def run(self, work: Any, records: list[GenerationRecord]) -> Iterator[Outcome]:
        if not records:
            return
        ray = self.ray
        started_here = self._connect()
        actors: list[Any] = []
        try:
            if not self.workers:
                self.workers = max(1, int(ray.cluster_resources().get("CPU", 1) // self.cpus_per_worker))
            actor_class = ray.remote(num_cpus=self.cpus_per_worker, max_restarts=self.max_restarts, max_task_retries=0)(RayWorker)
            actors = [actor_class.remote(self.spec, work.needs_default_model, self.threads_per_worker) for _ in range(min(self.workers, len(records)))]
            self.workers = len(actors)
            try:
                ray.get([actor.ready.remote() for actor in actors])
            except ray.exceptions.RayError as exc:
                raise UserError(f"a Ray worker could not start ({_cause(exc)}): the model folder and llm-audit must be installed on every node") from None
            yield from self._stream(work, records, actors)
        finally:
            for actor in actors:
                ray.kill(actor, no_restart=True)
            if started_here:
                ray.shutdown()

    def _stream(self, work: Any, records: list[GenerationRecord], actors: list[Any]) -> Iterator[Outcome]:
        """One task in flight per actor; a dead actor's record goes back to the front of the queue."""
        ray = self.ray
        queue: deque[tuple[GenerationRecord, int]] = deque((record, 1) for record in records)
        in_flight: dict[Any, tuple[int, GenerationRecord, int]] = {}
        deaths = [0] * len(actors)

        def submit(index: int) -> None:
            if queue and deaths[index] <= self.max_restarts:
                record, attempt = queue.popleft()
                in_flight[actors[index].compute.remote(work, record, attempt)] = (index, record, attempt)

        for index in range(len(actors)):
            submit(index)
        while in_flight:
            [ref], _ = ray.wait(list(in_flight), num_returns=1)
            index, record, attempt = in_flight.pop(ref)
            try:
                outcome = ray.get(ref)
            except ray.exceptions.RayActorError as exc:
                deaths[index] += 1
                if attempt <= self.retries:
                    queue.appendleft((record, attempt + 1))
                else:
                    yield Outcome(record.id, error=f"its worker died {attempt} times ({_cause(exc)})", worker="(died)", attempts=attempt)
                alive = [i for i in range(len(actors)) if deaths[i] <= self.max_restarts]
                target = index if deaths[index] <= self.max_restarts else next((i for i in alive if not _busy(i, in_flight)), None)
                if target is not None:
                    submit(target)
                elif not alive and not in_flight:
                    for left, tries in queue:
                        yield Outcome(left.id, error="no Ray worker left alive (all exceeded their restarts)", worker="(died)", attempts=tries)
                    queue.clear()
                continue
            yield outcome
            submit(index)


def _busy(index: int, in_flight: dict[Any, tuple[int, GenerationRecord, int]]) -> bool:
    return any(i == index for i, _, _ in in_flight.values())


def _cause(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
