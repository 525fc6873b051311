"""What one worker does with one record, and how the driver stores what it sends back.

A *work* object is small, plain and picklable: it travels to every worker once per task
together with the record's content (workers never open the database). ``compute`` runs
where the model is; ``store`` runs only in the driver, inside the transaction it opens for
that one result, through the same repositories and events as the single-record commands.
"""

from __future__ import annotations

import os
import socket
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar

from ..clock import utc_iso
from ..ids import uuid7
from ..model import LoadedModel, load_model
from ..record import GenerationRecord


@dataclass(frozen=True)
class ModelSpec:
    """How a worker loads its model: a name or folder that must exist where the worker runs."""

    spec: str | None = None
    device: str | None = None
    dtype: str | None = None

    def load(self) -> LoadedModel:
        return load_model(self.spec, device=self.device, dtype=self.dtype)


class ModelHost:
    """A worker's models, loaded once and reused for every record it gets.

    Model choice for replay is :class:`audit.auditor.Auditor`'s own (the record's model
    unless one is forced), so a record replays on a worker exactly as it does in-process.
    """

    def __init__(self, spec: ModelSpec, loaded: LoadedModel | None = None) -> None:
        from ..auditor import Auditor

        # The Auditor here only loads and caches models; its database path is never opened.
        self._auditor = Auditor(
            db=os.devnull, model=loaded if loaded is not None else spec.spec, device=spec.device, dtype=spec.dtype
        )
        self.name = f"{socket.gethostname()}:{os.getpid()}"

    @property
    def default(self) -> LoadedModel:
        return self._auditor.loaded

    def for_replay(self, record: GenerationRecord, model: str | None) -> LoadedModel:
        return self._auditor._replay_model(record, model)


@dataclass
class Outcome:
    """One record's result (or its error) as it comes back from a worker."""

    record_id: str
    result: Any = None
    error: str | None = None
    worker: str = ""
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    attempts: int = 1


@dataclass(frozen=True)
class ExplainWork:
    """Explain a record with one method, granularity and parameter set."""

    method: str
    granularity: str
    params: dict[str, Any]
    kind: ClassVar[str] = "explanation"
    needs_default_model: ClassVar[bool] = True

    def compute(self, host: ModelHost, record: GenerationRecord) -> Any:
        return self.run(host.default, record)

    def run(self, loaded: LoadedModel, record: GenerationRecord) -> Any:
        """The explanation of ``record`` by ``loaded``, labelled with the model that made it."""
        from ..attribution.explain import explain_record

        result = explain_record(loaded.model, loaded.tokenizer, record, self.method, self.granularity, **self.params)
        result.extra["model"] = loaded.identity.name
        result.extra["weights_sha256"] = dict(loaded.identity.weights_sha256)
        return result

    @cached_property
    def key(self) -> str:
        """The request's identity, computed once per batch rather than once per stored result."""
        from .pending import request_key

        return request_key(self.method, self.granularity, self.params)

    def is_stored(self, store: Any, record_id: str) -> bool:
        from .pending import already_explained

        return already_explained(store, record_id, self.method, self.granularity, self.key)

    def store(self, store: Any, result: Any, seal: Callable[[Any], Any] | None = None) -> str:
        result.id = uuid7()
        result.created_at = utc_iso()
        stored = seal(result) if seal is not None else result  # labels of a sealed record: see audit.privacy
        payload = store.explanations.insert(stored)
        store.events.append("explanation", result.id, payload)
        return result.id


@dataclass(frozen=True)
class ReplayWork:
    """Replay a record on its own model (or ``model``) and compare with what was recorded."""

    model: str | None = None
    allow_model_mismatch: bool = False
    tolerance: float = 1e-4
    kind: ClassVar[str] = "replay"
    needs_default_model: ClassVar[bool] = False

    def compute(self, host: ModelHost, record: GenerationRecord) -> Any:
        from ..replay import replay_record

        loaded = host.for_replay(record, self.model)
        return replay_record(record, loaded, allow_model_mismatch=self.allow_model_mismatch, tolerance=self.tolerance)

    def is_stored(self, store: Any, record_id: str) -> bool:
        return False  # every run is a new reproduction check; a run stores one replay per record

    def store(self, store: Any, result: Any, seal: Callable[[Any], Any] | None = None) -> str:
        from ..store.replays import replay_payload

        stored = seal(result) if seal is not None else result  # replayed ids of a sealed record: see audit.privacy
        result.seq = store.replays.insert(stored)
        store.events.append("replay", result.id, replay_payload(stored))
        return result.id


def compute_outcome(work: Any, host: ModelHost, record: GenerationRecord, attempts: int = 1) -> Outcome:
    """Run ``work`` on ``record``; any exception becomes the outcome's error (one line)."""
    import time

    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = work.compute(host, record)
            error = None
        except Exception as exc:  # a bad record must not stop the batch; the summary lists it
            result, error = None, f"{type(exc).__name__}: {exc}"
    return Outcome(
        record_id=record.id,
        result=result,
        error=error,
        worker=host.name,
        seconds=time.perf_counter() - started,
        warnings=[str(w.message) for w in caught if "log-probabilities" in str(w.message)],
        attempts=attempts,
    )
