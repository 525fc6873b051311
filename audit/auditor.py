"""``Auditor``: the Python API, one method per CLI command.

It owns the database path and a lazily loaded model, and wires the one-way flow
model -> generation record -> store. Every user mistake is checked before the model is
loaded or the database opened for writing, so a refused call changes nothing.
"""
from __future__ import annotations

import getpass
import os
from dataclasses import fields
from pathlib import Path
from typing import Any, Iterable

from .clock import utc_iso
from .environment import capture_environment
from .errors import UserError
from .generation import run_generation
from .ids import uuid7
from .model import LoadedModel, load_model
from .params import GenerationParams, config_to_record, effective_config
from .prompts import build_prompt
from .record import GenerationRecord, TopAlternative
from .store import AuditStore, check_writable, default_db_path
from .store.records import generation_payload

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
    ) -> None:
        self.db_path = Path(db) if db is not None else default_db_path()
        self._model_spec = model if isinstance(model, (str, type(None))) else None
        self._loaded = model if isinstance(model, LoadedModel) else None
        self._device = device
        self._dtype = dtype
        self.operator = operator or default_operator()

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
            raise UserError(f"unknown generation parameter(s) {', '.join(unknown)}: use {', '.join(sorted(_PARAM_NAMES))}")
        if not isinstance(seed, int) or seed < 0:
            raise UserError(f"seed must be a non-negative integer (got {seed!r})")
        if not use_case or not str(use_case).strip():
            raise UserError(f"use case is empty: pass one of {', '.join(USE_CASES)} or a short tag of your own")
        params = GenerationParams(**generation)
        params.validate()
        check_writable(self.db_path)

        loaded = self.loaded
        config = effective_config(loaded.model.generation_config, params)
        prepared = build_prompt(
            loaded.tokenizer, prompt=prompt, template=template, variables=variables, messages=messages, system=system, chat=chat
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

        out = run_generation(loaded, prepared.input_ids, config, seed)
        generation_config = config_to_record(config)
        generation_config.update(
            {"batch_size": 1, "attn_implementation": loaded.attn_implementation, "dtype": str(loaded.dtype).replace("torch.", "")}
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
        with AuditStore.open(self.db_path, write=True) as store:
            with store.transaction():
                record.seq = store.records.insert(record)
                store.events.append("generation", record.id, generation_payload(record))
        return record

    # -- reading -----------------------------------------------------------------------
    def get(self, record_id: str) -> GenerationRecord:
        with AuditStore.open(self.db_path) as store:
            return store.records.get(record_id)

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

    # -- attribution -------------------------------------------------------------------
    def explain(self, record_id: str, method: str = "feature-ablation", granularity: str = "token", **params: Any):
        """Attribute a recorded output to its input features, store the result and return it.

        ``params``: the method's parameters (``n_steps``, ``n_samples``, ``baseline_token``,
        ``perturbation_seed``, ``perturbations_per_eval``...; ``None`` means the default). Every
        user mistake is refused before the model is loaded, and nothing is stored then.
        """
        from .attribution.explain import check_request, explain_record

        check_request(None, method, granularity, params)
        record = self.get(record_id)
        check_request(record, method, granularity, params)
        check_writable(self.db_path)
        loaded = self.loaded
        result = explain_record(loaded.model, loaded.tokenizer, record, method, granularity, **params)
        result.id = uuid7()
        result.created_at = utc_iso()
        result.extra["model"] = loaded.identity.name
        result.extra["weights_sha256"] = dict(loaded.identity.weights_sha256)
        with AuditStore.open(self.db_path, write=True) as store:
            with store.transaction():
                payload = store.explanations.insert(result)
                store.events.append("explanation", result.id, payload)
        return result

    def explanations(self, record_id: str | None = None, *, method: str | None = None, granularity: str | None = None):
        """Stored explanations (of one record), oldest first."""
        with AuditStore.open(self.db_path) as store:
            return store.explanations.list(store.records.get(record_id).id if record_id else None, method=method, granularity=granularity)

    def explanation(self, explanation_id: str):
        """One stored explanation by id."""
        with AuditStore.open(self.db_path) as store:
            return store.explanations.get(explanation_id)
