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
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

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

    The actors live for one run, unless ``keep_alive``: then they (and their loaded model)
    serve every run of this executor until :meth:`close`.

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
        keep_alive: bool = False,
        start_timeout: float = 600.0,
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
        self.keep_alive = keep_alive  # reuse the actors (and their loaded model) across runs until close()
        self.start_timeout = start_timeout  # workers import torch and load the model; a full cluster never starts them
        self._actors: list[Any] = []
        self._started_ray = False
        self.ray = import_ray()

    def _connect(self) -> bool:
        """Initialise Ray unless it already is; returns whether this executor started it."""
        ray = self.ray
        if ray.is_initialized():
            return False
        try:
            ray.init(address=self.address, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise UserError(
                f"cannot connect to the Ray cluster at {self.address or 'a new local instance'} ({exc}): check --address"
            ) from None
        return True

    def run(self, work: Any, records: list[GenerationRecord]) -> Iterator[Outcome]:
        if not records:
            return
        try:
            actors = self._actors_for(work, len(records))
            yield from self._stream(work, records, actors)
        finally:
            if not self.keep_alive:
                self.close()

    def _actors_for(self, work: Any, count: int) -> list[Any]:
        """Start the actors, or reuse this executor's (they load whatever a work needs on first use)."""
        ray = self.ray
        if self._actors:
            return self._actors
        self._started_ray = self._connect() or self._started_ray
        if not self.workers:
            self.workers = max(1, int(ray.cluster_resources().get("CPU", 1) // self.cpus_per_worker))
        actor_class = ray.remote(num_cpus=self.cpus_per_worker, max_restarts=self.max_restarts, max_task_retries=0)(
            RayWorker
        )
        size = self.workers if self.keep_alive else min(self.workers, count)
        self._actors = [
            actor_class.remote(self.spec, work.needs_default_model, self.threads_per_worker) for _ in range(size)
        ]
        self.workers = len(self._actors)
        try:
            ray.get([actor.ready.remote() for actor in self._actors], timeout=self.start_timeout)
        except ray.exceptions.GetTimeoutError:
            free = ray.available_resources().get("CPU", 0)
            self.close_actors()
            raise UserError(
                f"{self.workers} Ray worker(s) did not start within {self.start_timeout:g} s (the cluster has {free:g} CPUs free, "
                f"each worker asks for {self.cpus_per_worker:g}): lower --workers or --cpus-per-worker, or free the cluster"
            ) from None
        except ray.exceptions.RayError as exc:
            self.close_actors()
            raise UserError(
                f"a Ray worker could not start ({_cause(exc)}): the model folder and llm-audit must be installed on every node"
            ) from None
        return self._actors

    def close_actors(self) -> None:
        for actor in self._actors:
            self.ray.kill(actor, no_restart=True)
        self._actors = []

    def close(self) -> None:
        """Kill the actors; shut Ray down if this executor started it."""
        self.close_actors()
        if self._started_ray:
            self.ray.shutdown()
            self._started_ray = False

    def _stream(self, work: Any, records: list[GenerationRecord], actors: list[Any]) -> Iterator[Outcome]:
        """One task in flight per actor; a dead actor's record goes back to the front of the queue.

        After a death the actor is pinged (``ready``) until Ray has restarted it, so no record is
        sent to an actor that is still restarting; an actor past ``max_restarts`` is dropped.
        """
        ray = self.ray
        queue: deque[tuple[GenerationRecord, int]] = deque((record, 1) for record in records)
        waiting: dict[
            Any, tuple[int, GenerationRecord | None, int]
        ] = {}  # ref -> (actor, record or None for a ping, attempt)
        dead: set[int] = set()

        def submit(index: int) -> None:
            if queue:
                record, attempt = queue.popleft()
                waiting[actors[index].compute.remote(work, record, attempt)] = (index, record, attempt)

        def idle() -> list[int]:
            busy = {i for i, _, _ in waiting.values()}
            return [i for i in range(len(actors)) if i not in busy and i not in dead]

        for index in range(len(actors)):
            submit(index)
        while waiting:
            if not queue and all(record is None for _, record, _ in waiting.values()):
                break  # only pings of restarting actors left: nothing more to compute
            [ref], _ = ray.wait(list(waiting), num_returns=1)
            index, record, attempt = waiting.pop(ref)
            try:
                value = ray.get(ref)
            except ray.exceptions.RayActorError as exc:
                restarting = isinstance(exc, ray.exceptions.ActorUnavailableError)
                if record is None and not restarting:
                    dead.add(index)  # past max_restarts: its ping failed for good
                else:
                    if record is not None:
                        if attempt <= self.retries:
                            queue.appendleft((record, attempt + 1))
                        else:
                            yield Outcome(
                                record.id,
                                error=f"its worker died {attempt} times ({_cause(exc)})",
                                worker="(died)",
                                attempts=attempt,
                            )
                    if restarting:
                        time.sleep(0.2)  # ask again shortly
                    waiting[actors[index].ready.remote()] = (index, None, 0)  # answers once Ray has restarted it
                for other in idle():
                    submit(other)
                if len(dead) == len(actors):
                    for left, tries in queue:
                        yield Outcome(
                            left.id,
                            error="no Ray worker left alive (all exceeded their restarts)",
                            worker="(died)",
                            attempts=tries,
                        )
                    queue.clear()
                continue
            if record is not None:
                yield value
            submit(index)


def _cause(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
