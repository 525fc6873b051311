"""Executors turn (work, records) into a stream of outcomes; they never touch the database.

The in-process executor is the reference: a laptop needs nothing else, and a Ray run must
give the same arrays. :mod:`.ray_executor` implements the same interface on a cluster.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from ..model import LoadedModel
from ..record import GenerationRecord
from .work import ModelHost, ModelSpec, Outcome, compute_outcome


class Executor(Protocol):
    name: str
    workers: int

    def run(self, work: Any, records: list[GenerationRecord]) -> Iterator[Outcome]:
        """Yield one outcome per record, in completion order; release the workers when done or interrupted."""
        ...


class InProcessExecutor:
    """One worker: this process, with the Auditor's model (loaded once, on first use)."""

    name = "in-process"
    workers = 1

    def __init__(self, spec: ModelSpec, loaded: LoadedModel | None = None) -> None:
        self.host = ModelHost(spec, loaded)
        self.host.name = "in-process"

    def run(self, work: Any, records: list[GenerationRecord]) -> Iterator[Outcome]:
        if records and work.needs_default_model:
            _ = self.host.default  # load before timing the first record, as a Ray worker does
        work.prepare(self.host, records)  # models are here: refuse a whole batch before its first result
        for record in records:
            yield compute_outcome(work, self.host, record)
