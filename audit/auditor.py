"""``Auditor``: the Python API, one method per CLI command.

It owns the database path and a lazily loaded model, and wires the one-way flow
model -> generation record -> store. Every user mistake is checked before the model is
loaded or the database opened for writing, so a refused call changes nothing.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterable
from dataclasses import fields
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .attention import AttentionResult
from .clock import utc_iso
from .environment import capture_environment
from .errors import UserError
from .ids import uuid7
from .integrity.proof import build_proof, write_proof
from .integrity.signing import default_key_path, obtain_signing_key
from .integrity.verify import VerifyResult, verify_database
from .model import LoadedModel, load_model
from .params import GenerationParams, config_to_record, effective_config
from .privacy.guard import PrivacyGuard, is_sealed
from .privacy.policy import Policy, load_policy
from .prompts import build_prompt
from .record import GenerationRecord, TopAlternative
from .replay_result import ReplayResult
from .store import AuditStore, check_writable, default_db_path
from .store.checkpoints import Checkpoint
from .store.records import generation_payload

if TYPE_CHECKING:
    from .scale.work import ModelSpec


def _check_target(subject: str | None, record_id: str | None, reason: str, why: str) -> None:
    """Erasure and legal holds name exactly one target and always say why."""
    if (subject is None) == (record_id is None):
        raise UserError("name exactly one of --subject ID or --record ID")
    if not reason or not reason.strip():
        raise UserError(f"--reason is required: {why}")


USE_CASES = ("credit-decision", "risk-assessment", "financial-advice", "news-summary", "legal-analysis")
_PARAM_NAMES = {f.name for f in fields(GenerationParams)}


def default_operator() -> str:
    try:
        return os.environ.get("LLM_AUDIT_OPERATOR") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


class Auditor:
    """Record, inspect (and, through later components, explain and report) generations.

    ``db``: database path (default ``$LLM_AUDIT_DB`` or ``./llm-audit.db``).
    ``model``: ``"smollm2-135m-instruct"`` (default), a local model folder, a hub id, or
    an already loaded :class:`~audit.model.LoadedModel` (tests and servers reuse one).
    """

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
        self._model_spec = model if isinstance(model, (str, type(None))) else None
        self._loaded = model if isinstance(model, LoadedModel) else None
        self._device = device
        self._dtype = dtype
        self.operator = operator or default_operator()
        self.policy = load_policy(policy) if isinstance(policy, (str, Path)) else policy
        self.key_store = Path(key_store) if key_store is not None else None

    # -- model -------------------------------------------------------------------------
    @property
    def loaded(self) -> LoadedModel:
        if self._loaded is None:
            self._loaded = load_model(self._model_spec, device=self._device, dtype=self._dtype)
        return self._loaded

    # -- recording ---------------------------------------------------------------------
    def generate(
        self,
        *,
        prompt: str | None = None,
        template: str | None = None,
        variables: dict[str, Any] | None = None,
        messages: list[dict[str, str]] | None = None,
        system: str | None = None,
        chat: bool | None = None,
        seed: int = 0,
        use_case: str = "general",
        operator: str | None = None,
        tags: dict[str, Any] | None = None,
        **generation: Any,
    ) -> GenerationRecord:
        """Generate once with ``seed`` and store the full record; returns it (with ``seq``)."""
        unknown = sorted(set(generation) - _PARAM_NAMES)
        if unknown:
            raise UserError(
                f"unknown generation parameter(s) {', '.join(unknown)}: use {', '.join(sorted(_PARAM_NAMES))}"
            )
        if not isinstance(seed, int) or seed < 0:
            raise UserError(f"seed must be a non-negative integer (got {seed!r})")
        if not use_case or not str(use_case).strip():
            raise UserError(f"use case is empty: pass one of {', '.join(USE_CASES)} or a short tag of your own")
        params = GenerationParams(**generation)
        params.validate()
        check_writable(self.db_path)
        if self.policy is not None:
            _ = self._guard().keys  # a bad key store refuses before the model runs

        loaded = self.loaded
        config = effective_config(loaded.model.generation_config, params)
        prepared = build_prompt(
            loaded.tokenizer,
            prompt=prompt,
            template=template,
            variables=variables,
            messages=messages,
            system=system,
            chat=chat,
        )
        context = loaded.identity.context_length
        if context is not None:
            if len(prepared.input_ids) >= context:
                raise UserError(
                    f"the prompt is {len(prepared.input_ids)} tokens, longer than the model's context of {context}: shorten it"
                )
            if len(prepared.input_ids) + config.max_new_tokens > context:
                raise UserError(
                    f"prompt ({len(prepared.input_ids)} tokens) + max_new_tokens ({config.max_new_tokens}) exceeds the "
                    f"context of {context}: lower --max-new-tokens to {context - len(prepared.input_ids)} or less"
                )

        from .generation import run_generation

        out = run_generation(loaded, prepared.input_ids, config, seed)
        generation_config = config_to_record(config)
        generation_config.update(
            {
                "batch_size": 1,
                "attn_implementation": loaded.attn_implementation,
                "dtype": str(loaded.dtype).replace("torch.", ""),
            }
        )
        tokenizer = loaded.tokenizer
        record = GenerationRecord(
            id=uuid7(int(out.started * 1000)),
            started_at=utc_iso(out.started),
            finished_at=utc_iso(out.finished),
            duration_s=round(out.finished - out.started, 6),
            use_case=str(use_case).strip(),
            operator=operator or self.operator,
            prompt_kind=prepared.kind,
            prompt=prepared.text,
            template=prepared.template,
            variables=prepared.variables,
            messages=prepared.messages,
            system=prepared.system,
            add_special_tokens=prepared.add_special_tokens,
            input_ids=prepared.input_ids,
            output_ids=out.output_ids,
            output_text=tokenizer.decode(out.output_ids, skip_special_tokens=True),
            finish_reason=out.finish_reason,
            token_logprobs=out.scored.token_logprobs,
            top_logprobs=[
                [TopAlternative(int(i), tokenizer.decode([int(i)]), float(lp)) for i, lp in zip(ids, lps)]
                for ids, lps in zip(out.scored.top_ids, out.scored.top_logprobs)
            ],
            generation_config=generation_config,
            seed=seed,
            model=loaded.identity,
            environment=capture_environment(loaded.device, loaded.dtype),
            tags=dict(tags or {}),
        )
        stored = self._guard().protect(record) if self.policy is not None else record
        with AuditStore.open(self.db_path, write=True) as store:
            with store.transaction():
                record.seq = store.records.insert(stored)
                store.events.append("generation", record.id, generation_payload(stored))
        if stored is not record:
            record.tags = stored.tags
        return record

    # -- reading -----------------------------------------------------------------------
    def get(self, record_id: str, *, clear: bool = False) -> GenerationRecord:
        """The record; a sealed one opened when its key is available (``clear=True``: or refuse)."""
        with AuditStore.open(self.db_path) as store:
            return self._opened(store, store.records.get(record_id), clear)

    def list(
        self,
        *,
        use_case: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int | None = None,
    ) -> list[GenerationRecord]:
        with AuditStore.open(self.db_path) as store:
            return list(store.records.iter(use_case=use_case, since=since, until=until, limit=limit))

    def generate_many(self, cases: Iterable[dict[str, Any]]) -> list[GenerationRecord]:
        """Record each case (keyword arguments of :meth:`generate`) in order."""
        return [self.generate(**case) for case in cases]

    # -- integrity --
    def _key_for_reading(self, key: str | Path | None) -> Path | None:
        """An explicit key must exist; the default key is used only if it is there."""
        if key is not None:
            return Path(key)
        default = default_key_path(self.db_path)
        return default if default.exists() else None

    def verify(self, *, key: str | Path | None = None) -> VerifyResult:
        """Recompute the chain, tables, blobs, Merkle roots and signatures (read-only)."""
        return verify_database(self.db_path, self._key_for_reading(key))

    def checkpoint(self, *, key: str | Path | None = None) -> Checkpoint:
        """Sign the log's current size and root now (the key is created on first use)."""
        path = Path(key) if key is not None else default_key_path(self.db_path)
        with AuditStore.open(self.db_path) as store:  # read-only: refuse a wrong key before anything is written
            known = store.checkpoints.key_ids()
        signing_key = obtain_signing_key(path, known)
        with AuditStore.open(self.db_path, write=True) as store:
            return store.events.checkpoint(signing_key)

    def proof(self, record_id: str, output: str | Path) -> Path:
        """Write ``record_id``'s events, blobs and inclusion proofs to ``output`` (JSON)."""
        with AuditStore.open(self.db_path) as store:
            document = build_proof(store, record_id)
        write_proof(document, Path(output))
        return Path(output)

    # -- replay --
    def replay(
        self,
        record_id: str,
        model: str | LoadedModel | None = None,
        allow_model_mismatch: bool = False,
        tolerance: float = 1e-4,
    ) -> ReplayResult:
        """Regenerate ``record_id`` as recorded, store the verdict (and its event), return it.

        The model is ``model`` if given, else the record's own model (its folder, or the
        default model), reusing this Auditor's model when it is the same by hashes.
        """
        return self.replay_many(
            [record_id], model=model, allow_model_mismatch=allow_model_mismatch, tolerance=tolerance
        )[0]

    def replay_many(
        self,
        record_ids: list[str] | None = None,
        *,
        use_case: str | None = None,
        model: str | LoadedModel | None = None,
        allow_model_mismatch: bool = False,
        tolerance: float = 1e-4,
        progress: bool = False,
    ) -> list[ReplayResult]:
        """Replay the given records (or all, optionally of one use case), oldest first.

        Every record's model is checked before the first replay, so a mismatch refuses the
        whole batch with nothing stored.
        """
        from tqdm import tqdm

        from .replay import replay_record
        from .replay.runner import check_model, check_tolerance
        from .scale.work import ReplayWork

        check_tolerance(tolerance)
        check_writable(self.db_path)
        with AuditStore.open(self.db_path) as store:
            if record_ids is None:
                records = [self._opened(store, r, True) for r in store.records.iter(use_case=use_case)]
                if not records:
                    where = f" with use case {use_case!r}" if use_case else ""
                    raise UserError(f"no records{where} to replay: run `llm-audit list` to see what is recorded")
            else:
                records = [self._opened(store, store.records.get(record_id), True) for record_id in record_ids]
        models = [self._replay_model(record, model) for record in records]
        for record, loaded in zip(records, models):
            check_model(record, loaded, allow_model_mismatch)
        results = []
        for record, loaded in tqdm(
            list(zip(records, models)), desc="replaying", unit="record", disable=not progress or None
        ):
            result = replay_record(record, loaded, allow_model_mismatch=allow_model_mismatch, tolerance=tolerance)
            with AuditStore.open(self.db_path, write=True) as store:
                with store.transaction():
                    ReplayWork().store(store, result, self._sealer([record], "replay"))
            results.append(result)
        return results

    def _replay_model(self, record: GenerationRecord, model: str | LoadedModel | None) -> LoadedModel:
        from .replay.loading import record_model_spec, recorded_dtype, replay_device, reusable

        if isinstance(model, LoadedModel):
            return model
        dtype = self._dtype or recorded_dtype(record)
        device = replay_device(record, self._device)
        cache: dict[tuple[str, str, str], LoadedModel] = self.__dict__.setdefault("_replay_models", {})
        if model is None:
            for candidate in (self._loaded, *cache.values()):
                if reusable(record, candidate, dtype):
                    return candidate
        spec = model or record_model_spec(record)
        key = (spec, device, dtype)
        if key not in cache:
            try:
                cache[key] = load_model(spec, device=device, dtype=dtype)
            except UserError as exc:
                if model is not None:
                    raise
                raise UserError(
                    f"cannot load the model of record {record.id} from {spec} ({exc}); pass --model with a copy of it"
                ) from None
        return cache[key]

    # -- attention ---------------------------------------------------------------------
    def attention(self, record_id: str, heads: bool = False, *, tolerance: float = 1e-4) -> AttentionResult:
        """Capture, aggregate and store the attention of a recorded generation.

        Refuses (nothing stored) when the loaded model is not the record's model, or when
        the eager pass does not reproduce the recorded log-probabilities within
        ``tolerance``: then the maps would describe a different computation.
        """
        from .attention.analyse import analyse_attention

        if not tolerance > 0:
            raise UserError(f"tolerance must be a positive number (got {tolerance!r})")
        record = self.get(record_id, clear=True)
        if not record.output_ids:
            raise UserError(f"record {record.id} has no output tokens: there is no attention to explain")
        check_writable(self.db_path)
        loaded = self.loaded
        if loaded.identity.weights_sha256 != record.model.weights_sha256:
            raise UserError(
                f"record {record.id} was generated by {record.model.name}, but the loaded model is "
                f"{loaded.identity.name} (different weights): pass --model with the record's model"
            )
        result = analyse_attention(loaded, record, heads=heads)
        if result.logprob_max_diff is not None and result.logprob_max_diff > tolerance:
            raise UserError(
                f"the eager attention pass does not reproduce the recorded log-probabilities of {record.id} "
                f"(max difference {result.logprob_max_diff:.2e} > {tolerance:g}): run on the record's device and "
                f"dtype ({record.generation_config.get('dtype', 'float32')}), or raise --tolerance knowingly"
            )
        result.id = uuid7()
        result.created_at = utc_iso()
        with AuditStore.open(self.db_path, write=True) as store:
            with store.transaction():
                payload = store.attention.insert(
                    self._guard().seal_attention(record, result) if is_sealed(record) else result
                )
                store.events.append("attention", result.id, payload)
            return self._open_result(store.attention.get(result.id), "attention")

    # -- attribution -------------------------------------------------------------------
    def explain(self, record_id: str, method: str = "feature-ablation", granularity: str = "token", **params: Any):
        """Attribute a recorded output to its input features, store the result and return it.

        ``params``: the method's parameters (``n_steps``, ``n_samples``, ``baseline_token``,
        ``perturbation_seed``, ``perturbations_per_eval``...; ``None`` means the default). Every
        user mistake is refused before the model is loaded, and nothing is stored then.
        """
        from .attribution.explain import check_request
        from .scale.work import ExplainWork

        check_request(None, method, granularity, params)
        record = self.get(record_id, clear=True)
        check_request(record, method, granularity, params)
        check_writable(self.db_path)
        work = ExplainWork(method, granularity, params)  # the same compute and store as `explain --all`
        result = work.run(self.loaded, record)
        with AuditStore.open(self.db_path, write=True) as store:
            with store.transaction():
                work.store(store, result, self._sealer([record], "explanation"))
        return result

    def explanations(self, record_id: str | None = None, *, method: str | None = None, granularity: str | None = None):
        """Stored explanations (of one record), oldest first."""
        with AuditStore.open(self.db_path) as store:
            found = store.explanations.list(
                store.records.get(record_id).id if record_id else None, method=method, granularity=granularity
            )
        return [self._open_result(r, "explanation") for r in found]

    def explanation(self, explanation_id: str):
        """One stored explanation by id."""
        with AuditStore.open(self.db_path) as store:
            return self._open_result(store.explanations.get(explanation_id), "explanation")

    # -- report ------------------------------------------------------------------------
    def report(
        self,
        record_ids: list[str] | str | None = None,
        output: str | Path = "report.html",
        *,
        use_case: str | None = None,
        since: str | None = None,
        until: str | None = None,
        generated_at: str | None = None,
        pdf: bool = False,
        dossiers: bool = False,
    ):
        """Write a dossier of ``record_ids`` (or, without ids, a summary of the filtered records).

        ``generated_at`` (ISO 8601) makes the HTML byte-identical across runs; the report's
        SHA-256 is logged as a "report" event. Returns :class:`audit.report.ReportOutput`.
        """
        from .report import issue_report

        ids = [record_ids] if isinstance(record_ids, str) else list(record_ids or [])
        return issue_report(
            self.db_path,
            Path(output),
            record_ids=ids or None,
            use_case=use_case,
            since=since,
            until=until,
            generated_at=generated_at,
            pdf=pdf,
            dossiers=dossiers,
            verify=self.verify,
        )

    # -- privacy -----------------------------------------------------------------------
    def _guard(self) -> PrivacyGuard:
        """One guard (and one key store read) per Auditor: redaction on write, opening on read."""
        from .privacy.keystore import default_key_store_path

        if "_privacy_guard" not in self.__dict__:
            self._privacy_guard = PrivacyGuard(self.policy, self.key_store or default_key_store_path(self.db_path))
        return self._privacy_guard

    def _opened(self, store: AuditStore, record: GenerationRecord, required: bool) -> GenerationRecord:
        """``record`` with its sealed content opened; without the key, the stored form or (required) a UserError."""
        from .privacy.keystore import HOW_TO_SUPPLY, KeyMissing

        if not is_sealed(record):
            return record
        try:
            return self._guard().open_record(record)
        except KeyMissing:
            if not required:
                return record
            erased = store.privacy.erasure(record.id)
            if erased is not None:
                raise UserError(
                    f"record {record.id} was erased on {erased['erased_at'][:10]} under {erased['reason']!r}: its content is gone by design"
                ) from None
            subject = record.tags["privacy"]["subject"]
            raise UserError(
                f"record {record.id} is sealed and key store {self._guard().key_store_path} has no key for its data subject "
                f"{subject}: {HOW_TO_SUPPLY} with the key store it was recorded with"
            ) from None

    def _open_result(self, result: Any, kind: str) -> Any:
        """An explanation or attention result with its sealed labels opened when the key is here."""
        from .privacy.keystore import KeyMissing

        if result is None or "sealed" not in (result.extra or {}):
            return result
        try:
            guard = self._guard()
            return guard.open_explanation(result) if kind == "explanation" else guard.open_attention(result)
        except KeyMissing:
            return result

    def _subject_ref(self, subject: str) -> str:
        return self._guard().keys.subject_ref(subject)

    def retention(self, *, apply: bool = False, as_of: str | None = None, reason: str = "retention period ended"):
        """Every sealed record's retention state; with ``apply``, erase those due now.

        Due means: past the minimum of its class, not erased, no legal hold on it or its
        subject. Nothing else is ever erased. Returns ``(items, erased_ids)``.
        """
        from .privacy.retention import check_as_of

        now = check_as_of(as_of, apply)
        if apply:
            check_writable(self.db_path)
        with AuditStore.open(self.db_path) as store:
            items = self._retention_states(store, store.privacy.sealed(), now)
        due = [item for item in items if item.state == "due"]
        if apply and due:
            self._erase([(i.record_id, i.subject) for i in due], "retention", reason)
        return items, [i.record_id for i in due] if apply else []

    def erase(self, *, subject: str | None = None, record_id: str | None = None, reason: str) -> list[str]:
        """Crypto-shred a data subject's (or one record's) keys and log an ``erasure`` tombstone per record.

        Refused, with nothing changed, while any affected record is inside its retention
        minimum or under a legal hold. The records' metadata, redacted text and ciphertext
        stay (the log is append-only and still verifies); the clear content is gone.
        """
        from datetime import datetime

        _check_target(subject, record_id, reason, "say why (e.g. 'GDPR Art. 17 request 2026-014')")
        check_writable(self.db_path)
        with AuditStore.open(self.db_path) as store:
            if subject is not None:
                ref = self._subject_ref(subject)
                rows = store.privacy.sealed(ref)
                if not rows:
                    raise UserError(
                        f"no sealed records of data subject {subject!r} (reference {ref}) in this database: check the id and the key store"
                    )
            else:
                record = store.records.get(record_id)
                if not is_sealed(record):
                    raise UserError(
                        f"record {record.id} is not sealed (recorded without a policy): there is no key to destroy"
                    )
                rows = [r for r in store.privacy.sealed(record.tags["privacy"]["subject"]) if r["id"] == record.id]
            items = self._retention_states(store, rows, datetime.now(UTC))
        blocked = [i for i in items if i.state in ("within-minimum", "on-hold", "no-key")]
        if blocked:
            first = blocked[0]
            raise UserError(
                f"{len(blocked)} of {len(items)} record(s) cannot be erased ({first.record_id}: {first.state}, {first.detail}); nothing was erased"
            )
        todo = [(i.record_id, i.subject) for i in items if i.state == "due"]
        if not todo:
            raise UserError("everything named is already erased: nothing to do")
        return self._erase(todo, "subject" if subject is not None else "record", reason.strip())

    def _retention_states(self, store: AuditStore, rows: list[dict[str, Any]], now: Any) -> list[Any]:
        """Each sealed row's retention state at ``now``: the one rule retention and erase share."""
        from .privacy.retention import classify

        erased, holds, keys = store.privacy.erasures(), self.holds(store), self._guard().keys
        return [
            classify(row, now, holds, erased, keys.has_record(row["privacy"]["subject"], row["id"])) for row in rows
        ]

    def _erase(self, todo: list[tuple[str, str]], scope: str, reason: str) -> list[str]:
        """Tombstones and key destruction in one step: the key store is saved inside the DB transaction."""
        keys = self._guard().keys
        erased_at = utc_iso()
        with AuditStore.open(self.db_path, write=True) as store:
            with store.transaction():
                for record_id, subject in todo:
                    store.events.append(
                        "erasure",
                        record_id,
                        {
                            "record_id": record_id,
                            "subject": subject,
                            "scope": scope,
                            "reason": reason,
                            "erased_at": erased_at,
                            "operator": self.operator,
                            "method": "crypto-shredding",
                        },
                    )
                    keys.erase_record(subject, record_id)
                keys.save()
        return [record_id for record_id, _ in todo]

    def holds(self, store: AuditStore | None = None):
        """The legal holds in force now (a hold not followed by a release of the same target)."""
        from .privacy.retention import Hold

        if store is None:
            with AuditStore.open(self.db_path) as opened:
                return self.holds(opened)
        active: dict[tuple[str, str], Hold] = {}
        for kind, p in store.privacy.hold_events():
            key = (p["scope"], p["target"])
            if kind == "hold":
                active[key] = Hold(p["scope"], p["target"], p["reason"], p["at"], p.get("operator", ""))
            else:
                active.pop(key, None)
        return list(active.values())

    def hold(self, *, subject: str | None = None, record_id: str | None = None, reason: str, release: bool = False):
        """Place (or with ``release``, lift) a legal hold on a data subject or one record; logged as an event."""
        from .privacy.retention import Hold

        _check_target(subject, record_id, reason, "name the matter or order (e.g. 'litigation 2026-CV-112')")
        check_writable(self.db_path)
        with AuditStore.open(self.db_path) as store:
            if subject is not None:
                scope, target = "subject", self._subject_ref(subject)
                if not store.privacy.sealed(target):
                    raise UserError(
                        f"no sealed records of data subject {subject!r} in this database: check the id and the key store"
                    )
            else:
                scope, target = "record", store.records.get(record_id).id
            held = any((h.scope, h.target) == (scope, target) for h in self.holds(store))
        if release and not held:
            raise UserError(f"there is no legal hold on that {scope} to release: run `llm-audit hold --list`")
        if not release and held:
            raise UserError(f"that {scope} is already under a legal hold: release it first to change the reason")
        at = utc_iso()
        kind = "release" if release else "hold"
        with AuditStore.open(self.db_path, write=True) as store:
            with store.transaction():
                store.events.append(
                    kind,
                    target,
                    {"scope": scope, "target": target, "reason": reason.strip(), "at": at, "operator": self.operator},
                )
        return Hold(scope, target, reason.strip(), at, self.operator)

    # -- scale-out ---------------------------------------------------------------------
    def model_spec(self) -> ModelSpec:
        """What a worker elsewhere needs to load this Auditor's model (a name or a folder)."""
        from .model import DEFAULT_MODEL_NAME
        from .scale.work import ModelSpec

        if self._loaded is None:
            return ModelSpec(self._model_spec, self._device, self._dtype)
        loaded = self._loaded
        spec = None if loaded.identity.name == DEFAULT_MODEL_NAME else str(loaded.folder)
        return ModelSpec(spec, str(loaded.device), str(loaded.dtype).replace("torch.", ""))

    def explain_all(
        self,
        *,
        use_case: str | None = None,
        since: str | None = None,
        until: str | None = None,
        method: str = "feature-ablation",
        granularity: str = "token",
        executor: Any = None,
        progress: bool = False,
        on_stored: Any = None,
        **params: Any,
    ):
        """Explain every matching record not yet explained with this method and parameters.

        Resumable and idempotent: records already explained the same way are skipped, each
        result is stored in its own transaction as it arrives. ``executor``: an
        :class:`audit.scale.InProcessExecutor` (default, this Auditor's model) or
        :class:`audit.scale.ray_executor.RayExecutor`. Returns :class:`audit.scale.BatchSummary`.
        """
        from .scale.driver import run_batch
        from .scale.pending import effective_params, select_for_explain
        from .scale.work import ExplainWork

        given = {k: v for k, v in params.items() if v is not None}
        effective_params(method, granularity, given)
        check_writable(self.db_path)
        with AuditStore.open(self.db_path) as store:
            records = list(store.records.iter(use_case=use_case, since=since, until=until))
            if not records:
                raise UserError("no records match the filters: run `llm-audit list` to see what is recorded")
            records, locked = self._open_for_batch(store, records)
            selection = select_for_explain(store, records, method, granularity, given)
        selection.selected += len(locked)
        selection.skipped.update(locked)
        work = ExplainWork(method, granularity, given)
        return run_batch(
            self.db_path,
            work,
            selection,
            executor or self._local_executor(),
            progress=progress,
            on_stored=on_stored,
            seal=self._sealer(selection.todo, "explanation"),
        )

    def replay_all(
        self,
        *,
        use_case: str | None = None,
        since: str | None = None,
        until: str | None = None,
        model: str | None = None,
        allow_model_mismatch: bool = False,
        tolerance: float = 1e-4,
        executor: Any = None,
        progress: bool = False,
    ):
        """Replay every matching record through ``executor`` (see :meth:`explain_all`); one replay stored per record."""
        from .replay.runner import check_tolerance
        from .scale.driver import run_batch
        from .scale.pending import Selection
        from .scale.work import ReplayWork

        check_tolerance(tolerance)
        check_writable(self.db_path)
        with AuditStore.open(self.db_path) as store:
            records = list(store.records.iter(use_case=use_case, since=since, until=until))
            if not records:
                raise UserError("no records match the filters: run `llm-audit list` to see what is recorded")
            opened, locked = self._open_for_batch(store, records)
        work = ReplayWork(model=model, allow_model_mismatch=allow_model_mismatch, tolerance=tolerance)
        selection = Selection(todo=opened, selected=len(records), skipped=locked)
        return run_batch(
            self.db_path,
            work,
            selection,
            executor or self._local_executor(),
            progress=progress,
            seal=self._sealer(opened, "replay"),
        )

    def _open_for_batch(
        self, store: AuditStore, records: list[GenerationRecord]
    ) -> tuple[list[GenerationRecord], dict[str, str]]:
        """Sealed records opened for the workers (exact token ids); those whose key is
        missing or erased are skipped with the reason instead of stopping the batch."""
        opened, locked = [], {}
        for record in records:
            try:
                opened.append(self._opened(store, record, True))
            except UserError as exc:
                locked[record.id] = str(exc)
        return opened, locked

    def _sealer(self, records: list[GenerationRecord], kind: str):
        """What is applied to each explanation or replay of these records before it is stored:
        the clear token labels of a sealed record encrypted (None when none is sealed)."""
        sealed = {record.id: record for record in records if is_sealed(record)}
        if not sealed:
            return None
        guard = self._guard()
        seal_one = guard.seal_explanation if kind == "explanation" else guard.seal_replay
        return lambda result: seal_one(sealed[result.record_id], result) if result.record_id in sealed else result

    def _local_executor(self):
        from .scale.executors import InProcessExecutor

        return InProcessExecutor(self.model_spec(), self._loaded)

    def replays(self, replay_ids: list[str]) -> list[ReplayResult]:
        """Stored replays by id, in the given order."""
        with AuditStore.open(self.db_path) as store:
            return [store.replays.get(replay_id) for replay_id in replay_ids]
