"""What one worker does with one record, and how the driver stores what it sends back.

A *work* object is small, plain and picklable: it travels to every worker once per task
together with the record's content (workers never open the database). ``compute`` runs
where the model is; ``store`` runs only in the driver, inside the transaction it opens for
that one result, through the same repository ``append`` as the single-record commands.
"""

from __future__ import annotations

import os
import socket
import warnings
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..attribution.request import ExplainRequest
from ..model import DEFAULT_MODEL_NAME, LoadedModel, load_model
from ..record import GenerationRecord
from ..replay.models import ReplayModels
from ..tolerances import REPLAY_TOLERANCE


@dataclass(frozen=True)
class ModelSpec:
    """How a worker loads its model: a name or folder that must exist where the worker runs."""

    spec: str | None = None
    device: str | None = None
    dtype: str | None = None

    def load(self) -> LoadedModel:
        return load_model(self.spec, device=self.device, dtype=self.dtype)

    @classmethod
    def of(cls, loaded: LoadedModel | None, spec: str | None, device: str | None, dtype: str | None) -> ModelSpec:
        """The spec of a model as an Auditor holds it: loaded (its folder, or the default model's name) or named."""
        if loaded is None:
            return cls(spec, device, dtype)
        folder = None if loaded.identity.name == DEFAULT_MODEL_NAME else str(loaded.folder)
        return cls(folder, str(loaded.device), str(loaded.dtype).replace("torch.", ""))


class ModelHost:
    """A worker's models, loaded once and reused for every record it gets.

    Replays choose their model with :class:`audit.replay.models.ReplayModels`, as the Auditor
    does, so a record replays on a worker exactly as it does in-process.
    """

    def __init__(self, spec: ModelSpec, loaded: LoadedModel | None = None) -> None:
        self.spec = spec
        self._default = loaded
        self.replay_models = ReplayModels(spec.device, spec.dtype, lambda: self._default)
        self.name = f"{socket.gethostname()}:{os.getpid()}"

    @property
    def default(self) -> LoadedModel:
        if self._default is None:
            self._default = self.spec.load()
        return self._default


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
    """Explain a record as one checked request says (method, granularity, parameters)."""

    request: ExplainRequest
    kind: ClassVar[str] = "explanation"
    needs_default_model: ClassVar[bool] = True

    def compute(self, host: ModelHost, record: GenerationRecord) -> Any:
        from ..attribution.explain import explain_loaded

        return explain_loaded(host.default, record, self.request)

    def prepare(self, host: ModelHost, records: list[GenerationRecord]) -> None:
        """Nothing to check before the first record: the request was checked against each when selected."""

    def is_stored(self, store: Any, record_id: str) -> bool:
        from .pending import already_explained

        return already_explained(store, record_id, self.request)

    def store(self, store: Any, result: Any) -> str:
        store.explanations.append(result)
        return result.id


@dataclass(frozen=True)
class ReplayWork:
    """Replay a record on its own model (or ``model``) and compare with what was recorded."""

    model: str | None = None
    allow_model_mismatch: bool = False
    tolerance: float = REPLAY_TOLERANCE
    kind: ClassVar[str] = "replay"
    needs_default_model: ClassVar[bool] = False

    def compute(self, host: ModelHost, record: GenerationRecord) -> Any:
        from ..replay import replay_record

        loaded = host.replay_models.for_record(record, self.model)
        return replay_record(record, loaded, allow_model_mismatch=self.allow_model_mismatch, tolerance=self.tolerance)

    def prepare(self, host: ModelHost, records: list[GenerationRecord]) -> None:
        """Where the models load in this process, every record's model is checked before the first replay,
        so a mismatch refuses the whole batch (UserError) with nothing stored."""
        from ..replay.runner import check_model

        for record in records:
            check_model(record, host.replay_models.for_record(record, self.model), self.allow_model_mismatch)

    def is_stored(self, store: Any, record_id: str) -> bool:
        return False  # every run is a new reproduction check; a run stores one replay per record

    def store(self, store: Any, result: Any) -> str:
        store.replays.append(result)
        return result.id


@dataclass(frozen=True)
class FairnessWork:
    """Re-score one record's decision under every swap its template has (:func:`audit.fairness.score_record`).

    Nothing is stored per record: the driver of :func:`audit.scale.batch.fairness_batch` aggregates
    every record's scores into one protected-attribute result and stores that.
    """

    swaps: tuple[Any, ...]
    kind: ClassVar[str] = "fairness"
    needs_default_model: ClassVar[bool] = True

    def compute(self, host: ModelHost, record: GenerationRecord) -> Any:
        from ..fairness.analyse import score_record

        return score_record(host.default, record, self.swaps)

    def prepare(self, host: ModelHost, records: list[GenerationRecord]) -> None:
        """Every record's model is checked before the first is scored: a mismatch refuses the run."""
        from ..counterfactual.analyse import check_model

        for record in records:
            check_model(record, host.default, "a fairness check")


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
