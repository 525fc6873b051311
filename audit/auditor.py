"""``Auditor``: the Python API, one method per CLI command, each a few lines over the package.

It holds what commands share (database path, lazily loaded model, operator, privacy guard); the
work is done below it, in modules that never import it. Every user mistake is refused before a
model is loaded or the database opened for writing, so a refused call changes nothing. Modules
that import torch, transformers or Captum are imported inside the methods that run a model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import recording, spool
from .attribution.request import check_request
from .credentials import ApiKeys
from .integrity.facade import IntegrityFacade
from .model import LoadedModel, load_model
from .monitor.facade import MonitorFacade
from .pack.facade import PackFacade
from .privacy.facade import PrivacyFacade
from .privacy.guard import PrivacyGuard
from .privacy.keystore import default_key_store_path
from .privacy.policy import Policy, load_policy
from .record import GenerationRecord
from .recording import GenerationRequest
from .replay.models import ReplayModels
from .replay.result import ReplayResult
from .report import ReportOutput, issue_report
from .review.service import Reviews
from .scale import BatchSummary, InProcessExecutor, ModelSpec, ReplayWork
from .scale.batch import BATCH_OPTIONS, explain_batch, fairness_batch, replay_batch
from .scale.merge import MergeResult, merge_databases
from .store import AuditStore, check_writable, default_db_path
from .store.reads import ReadFacade
from .tolerances import REPLAY_TOLERANCE, check_tolerance

if TYPE_CHECKING:
    from .attention import AttentionResult
    from .attribution import AttributionResult
    from .checks.runner import SuiteResult
    from .counterfactual import CounterfactualResult
    from .fairness import FairnessResult


class Auditor(ReadFacade, IntegrityFacade, PrivacyFacade, MonitorFacade, PackFacade):
    """Record, explain, replay, report and verify generations in one audit database (``db``, default
    ``$LLM_AUDIT_DB`` or ``./llm-audit.db``). ``model``: the default model's name, a local folder, a hub id
    or a :class:`~audit.model.LoadedModel`; ``policy``: a privacy policy; ``key_store``: its key store file."""

    def __init__(
        self,
        db: str | Path | None = None,
        model: str | LoadedModel | None = None,
        *,
        device: str | None = None,
        dtype: str | None = None,
        operator: str | None = None,
        policy: str | Path | Policy | None = None,
        key_store: str | Path | None = None,
    ) -> None:
        self.db_path = Path(db) if db is not None else default_db_path()
        self._model_spec = model if isinstance(model, str | None) else None
        self._loaded = model if isinstance(model, LoadedModel) else None
        self._device, self._dtype = device, dtype
        self.operator = operator or recording.default_operator()
        self.policy = load_policy(policy) if isinstance(policy, str | Path) else policy
        self.key_store = Path(key_store) if key_store is not None else None
        self._replay_models = ReplayModels(device, dtype, lambda: self._loaded)

    @property
    def loaded(self) -> LoadedModel:
        """The model, loaded (and on first use of the default model, converted) on first access."""
        if self._loaded is None:
            self._loaded = load_model(self._model_spec, device=self._device, dtype=self._dtype)
        return self._loaded

    @cached_property
    def privacy(self) -> PrivacyGuard:
        """Redaction on write, opening of sealed content on read; one key store read per Auditor."""
        return PrivacyGuard(self.policy, self.key_store or default_key_store_path(self.db_path))

    def generate(
        self,
        *,
        prompt: str | None = None,
        template: str | None = None,
        variables: dict[str, Any] | None = None,
        messages: list[dict[str, Any]] | None = None,
        system: str | None = None,
        chat: bool | None = None,
        decision: Any = None,
        seed: int = 0,
        use_case: str = "general",
        operator: str | None = None,
        tags: dict[str, Any] | None = None,
        **generation: Any,
    ) -> GenerationRecord:
        """Generate once and store the full record (with ``seq``). The prompt: one of ``prompt``, ``template`` (with
        ``variables``) or ``messages``; ``decision``: :func:`audit.decision.spec.check_spec`'s; ``generation``: generation
        parameters by name (:class:`audit.params.GenerationParams`), all checked by :class:`GenerationRequest`."""
        request = GenerationRequest.build(
            prompt=prompt,
            template=template,
            variables=variables,
            messages=messages,
            system=system,
            chat=chat,
            params=generation,
            decision=decision,
            seed=seed,
            use_case=use_case,
            operator=operator or self.operator,
            tags=tags,
        )
        recording.check_storable(self.db_path, self.privacy)
        record = recording.record_generation(self.loaded, request)
        return recording.store_record(self.db_path, record, self.privacy)

    def generate_many(self, cases: Iterable[dict[str, Any]]) -> list[GenerationRecord]:
        """Record each case (keyword arguments of :meth:`generate`) in order."""
        return [self.generate(**case) for case in cases]

    def get(self, record_id: str, *, clear: bool = False) -> GenerationRecord:
        """The record; a sealed one opened when its key is available (``clear=True``: or refuse)."""
        with AuditStore.open(self.db_path) as store:
            return self.privacy.open_stored(store, store.records.get(record_id), clear)

    def explain(
        self, record_id: str, method: str = "feature-ablation", granularity: str = "token", **params: Any
    ) -> AttributionResult:
        """Attribute a recorded output to its input tokens, fields or segments; stored and returned.
        ``params``: the method's (``n_steps``, ``n_samples``, ``baseline_token``, ...; ``None``: default)."""
        from .attribution.explain import explain_loaded

        allow = bool(params.pop("allow_model_mismatch", False))  # stored marked as on another model
        request = check_request(method, granularity, params)
        record = self.get(record_id, clear=True)
        request.check_record(record)
        check_writable(self.db_path)
        result = explain_loaded(self.loaded, record, request, allow)
        spool.store_or_keep(self.db_path, "explanation", self.privacy.for_storage(record, result))
        return result

    def explain_all(
        self, method: str = "feature-ablation", granularity: str = "token", *, executor: Any = None, **options: Any
    ) -> BatchSummary:
        """Explain every matching record not yet explained this way (:func:`audit.scale.batch.explain_batch`; in-process or Ray)."""
        batch = {k: options.pop(k) for k in BATCH_OPTIONS if k in options}
        request = check_request(method, granularity, options)
        return explain_batch(self.db_path, self.privacy, request, executor or self._executor(), **batch)

    def attention(self, record_id: str, heads: bool = False, *, tolerance: float = REPLAY_TOLERANCE) -> AttentionResult:
        """Capture, aggregate and store a record's attention (refused unless the model reproduces it)."""
        from .attention.analyse import analyse_recorded, check_attention_request

        record = self.get(record_id, clear=True)
        check_attention_request(record, tolerance)
        check_writable(self.db_path)
        result = analyse_recorded(self.loaded, record, heads=heads, tolerance=tolerance)
        spool.store_or_keep(self.db_path, "attention", self.privacy.for_storage(record, result))
        with AuditStore.open(self.db_path) as store:
            return self.privacy.open_result(store.attention.get(result.id))

    def replay(
        self,
        record_id: str,
        model: str | LoadedModel | None = None,
        allow_model_mismatch: bool = False,
        tolerance: float = REPLAY_TOLERANCE,
        upstream: str | None = None,
    ) -> ReplayResult:
        """Regenerate ``record_id`` as recorded, store the verdict, return it. The model is ``model`` if given, else
        the record's own (this Auditor's when the same by hashes); ``upstream``: re-send a proxied record there."""
        from .replay.dispatch import replay_one

        record = self.get(record_id, clear=True)
        check_writable(self.db_path)
        result = replay_one(record, self._replay_models, model, upstream, allow_model_mismatch, tolerance)
        spool.store_or_keep(self.db_path, "replay", self.privacy.for_storage(record, result))
        return result

    def replay_many(self, record_ids: list[str] | None = None, **options: Any) -> list[ReplayResult]:
        """:meth:`replay_all` in this process, returning the replays (a failure raises instead)."""
        return self.replay_all(record_ids=record_ids, **options).all_results()

    def replay_all(
        self,
        *,
        model: str | None = None,
        allow_model_mismatch: bool = False,
        tolerance: float = REPLAY_TOLERANCE,
        executor: Any = None,
        **options: Any,
    ) -> BatchSummary:
        """Replay ``record_ids`` or every record matching the filters (:func:`audit.scale.batch.replay_batch`),
        one replay stored per record; in this process a model mismatch refuses the batch before any replay."""
        work = ReplayWork(model, allow_model_mismatch, check_tolerance(tolerance))
        return replay_batch(self.db_path, self.privacy, work, executor or self._executor(), **options)

    def counterfactual(
        self, record_id: str, vary: Any = None, *, example: str | Path | None = None, pairs: bool = False
    ) -> CounterfactualResult:
        """Re-score the record's decision with fields changed (``vary``: ``["credit_score=620,680"]`` or a dict;
        ``example``: a TOML's ``[counterfactuals]``): which changes flip it, the smallest per field; stored."""
        from .counterfactual import variations_for
        from .counterfactual.analyse import counterfactuals, plan

        variations = variations_for(vary, example)
        record = self.get(record_id, clear=True)
        plan(record, variations, pairs)  # refused before the model loads
        check_writable(self.db_path)
        result = counterfactuals(self.loaded, record, variations, pairs=pairs)
        spool.store_or_keep(self.db_path, "counterfactual", result)
        return result

    def fairness(
        self, swaps: Any = None, *, example: str | Path | None = None, executor: Any = None, **options: Any
    ) -> FairnessResult:
        """Substitute each swapped attribute's values into every matching record's decision (``options``: use_case,
        since, until, progress) and store the flip rates and group gaps (:func:`audit.scale.batch.fairness_batch`)."""
        from .counterfactual import swaps_for

        found = swaps_for(swaps, example)
        return fairness_batch(self.db_path, self.privacy, found, executor or self._executor(), **options)

    def report(
        self, record_ids: list[str] | str | None = None, output: str | Path = "report.html", **options: Any
    ) -> ReportOutput:
        """A dossier of ``record_ids`` (else a summary), its SHA-256 logged; ``options``: :func:`audit.report.issue_report`'s."""
        ids = [record_ids] if isinstance(record_ids, str) else list(record_ids or [])
        return issue_report(self.db_path, Path(output), record_ids=ids or None, verify=self.verify, **options)

    def append_pending(self) -> list[spool.Appended]:
        """Append what the pending journal kept when the database could not take it (:mod:`audit.spool`)."""
        return spool.append_pending(self.db_path)

    def merge(self, sources: list[str | Path], **options: Any) -> MergeResult:
        """Check each source (trust, schema, ids, blobs: :func:`~audit.scale.merge.merge_databases`), then copy it in here."""
        return merge_databases([Path(s) for s in sources], self.db_path, **options)

    api_keys = cached_property(lambda self: ApiKeys(self.db_path, self.operator))
    """API keys of ``serve`` and ``proxy`` (:class:`audit.credentials.ApiKeys`): stored hashed, added and revoked as events."""

    reviews = cached_property(Reviews.on)

    def check(
        self, suite: str | Path, baseline: str | Path, *, say: Callable[[str], None] | None = None
    ) -> SuiteResult:
        """Recompute every case of ``suite`` and compare it with ``baseline`` (``say``: progress lines)."""
        from .checks.runner import check_files

        return check_files(self, Path(suite), Path(baseline), say)

    def create_baseline(self, suite: str | Path, output: str | Path, *, say: Callable[[str], None] | None = None):
        """Generate and explain every case of ``suite``, write the baseline to ``output``; returns the runs."""
        from .checks.runner import create_baseline_file

        return create_baseline_file(self, Path(suite), Path(output), say)

    @property
    def model_given(self) -> bool:
        """Whether this Auditor was given a model (else it uses the default, or a record's own for replay)."""
        return self._model_spec is not None or self._loaded is not None

    def with_model(self, model: str | LoadedModel | None) -> Auditor:
        """Another Auditor on the same database, settings and operator, with ``model``."""
        settings = {"device": self._device, "dtype": self._dtype, "operator": self.operator, "policy": self.policy}
        return Auditor(self.db_path, model, key_store=self.key_store, **settings)

    def model_spec(self) -> ModelSpec:
        """What a worker elsewhere needs to load this Auditor's model (a name or a folder)."""
        return ModelSpec.of(self._loaded, self._model_spec, self._device, self._dtype)

    def _executor(self) -> InProcessExecutor:
        return InProcessExecutor(self.model_spec(), self._loaded)
