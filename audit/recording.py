"""Recording one generation: check the request, run the model once, assemble the record, store it.

The checks that need no model run first (:func:`check_request`), so a mistake costs nothing
and stores nothing; the prompt is then built and measured against the model's context
(:func:`prepare`); :func:`record_generation` runs the seeded generation and assembles the
:class:`~audit.record.GenerationRecord` field by field; :func:`store_record` applies the
privacy policy and appends the record with its event, or keeps it in the pending journal
(:mod:`audit.journal`) when the database cannot take it.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import journal
from .clock import utc_iso
from .decision.spec import DecisionSpec, check_spec
from .environment import capture_environment
from .errors import UserError
from .ids import uuid7
from .model import LoadedModel
from .params import GenerationParams, config_to_record, effective_config
from .prompts import PromptInput, build_prompt, check_inputs, template_fields
from .record import GenerationRecord, TopAlternative

if TYPE_CHECKING:
    from .privacy.guard import PrivacyGuard

USE_CASES = ("credit-decision", "risk-assessment", "financial-advice", "news-summary", "legal-analysis")
PARAM_NAMES = tuple(f.name for f in fields(GenerationParams))


def default_operator() -> str:
    """Who is recording: ``$LLM_AUDIT_OPERATOR``, else the login name."""
    try:
        return os.environ.get("LLM_AUDIT_OPERATOR") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


PROMPT_FIELDS = ("prompt", "template", "variables", "messages", "system", "chat")


@dataclass
class GenerationRequest:
    """What to generate, checked: the prompt as given, the parameters, the seed, who and what for."""

    prompt: dict[str, Any]  # exactly one of prompt/template/messages, with variables/system/chat
    params: GenerationParams
    seed: int
    use_case: str
    operator: str
    tags: dict[str, Any] = field(default_factory=dict)
    record_id: str | None = None  # assigned before generation by a caller that must name the record early (a stream)
    decision: DecisionSpec | None = None


def check_request(inputs: dict[str, Any], seed: Any, use_case: Any, operator: str) -> GenerationRequest:
    """Split and check what :meth:`audit.Auditor.generate` was given; every mistake here is refused
    before a model loads.

    ``inputs``: exactly one of ``prompt``, ``template`` (with ``variables``) or ``messages``,
    optionally ``system`` and ``chat``; ``operator`` and ``tags`` (override who recorded it, free
    labels); ``decision`` (labels, favourable, mode, reasons: :func:`audit.decision.spec.check_spec`);
    and generation parameters (``max_new_tokens``, ``do_sample``, ``temperature``,
    ``top_p``, ``top_k``, ``repetition_penalty``, ``num_beams``; ``None`` keeps the model's default).
    """
    inputs = dict(inputs)
    prompt = {k: inputs.pop(k) for k in PROMPT_FIELDS if k in inputs}
    who = inputs.pop("operator", None) or operator
    tags = dict(inputs.pop("tags", None) or {})
    template = prompt.get("template")
    decision = check_spec(
        inputs.pop("decision", None), template_fields(template) if isinstance(template, str) else None
    )
    unknown = sorted(set(inputs) - set(PARAM_NAMES))
    if unknown:
        raise UserError(f"unknown generation parameter(s) {', '.join(unknown)}: use {', '.join(sorted(PARAM_NAMES))}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UserError(f"seed must be a non-negative integer (got {seed!r})")
    if not use_case or not str(use_case).strip():
        raise UserError(f"use case is empty: pass one of {', '.join(USE_CASES)} or a short tag of your own")
    params = GenerationParams(**inputs)
    params.validate()
    check_inputs({**prompt, "operator": who, "use case": use_case, "tags": tags})
    return GenerationRequest(prompt, params, seed, str(use_case).strip(), who, tags, decision=decision)


def prepare(loaded: LoadedModel, params: GenerationParams, **prompt: Any) -> tuple[PromptInput, Any]:
    """The tokenised prompt and the effective generation config, refused if they exceed the context."""
    config = effective_config(loaded.model.generation_config, params)
    prepared = build_prompt(loaded.tokenizer, **prompt)
    context = loaded.identity.context_length
    if context is not None:
        n = len(prepared.input_ids)
        if n >= context:
            raise UserError(f"the prompt is {n} tokens, longer than the model's context of {context}: shorten it")
        if n + config.max_new_tokens > context:
            raise UserError(
                f"prompt ({n} tokens) + max_new_tokens ({config.max_new_tokens}) exceeds the context of {context}: "
                f"lower --max-new-tokens to {context - n} or less"
            )
    return prepared, config


def decision_labels(
    loaded: LoadedModel, prepared: PromptInput, spec: DecisionSpec, max_new_tokens: int
) -> list[list[int]]:
    """Each label's token ids at the start of this prompt's answer, refused where labels collide."""
    from .decision.labels import check_label_tokens, label_token_ids

    tokenizer = loaded.tokenizer
    ids = [
        label_token_ids(tokenizer, prepared.text, prepared.input_ids, prepared.add_special_tokens, label)
        for label in spec.labels
    ]
    check_label_tokens(tokenizer, spec.labels, ids)
    longest = max(range(len(ids)), key=lambda i: len(ids[i]))
    if spec.mode == "constrained" and max_new_tokens < len(ids[longest]):
        raise UserError(
            f"max_new_tokens ({max_new_tokens}) is shorter than label {spec.labels[longest]!r} ({len(ids[longest])} "
            "tokens), which a constrained answer starts with: raise --max-new-tokens"
        )
    return ids


def record_generation(
    loaded: LoadedModel, request: GenerationRequest, on_token: Callable[[int], None] | None = None
) -> GenerationRecord:
    """Build the prompt, generate once with the request's seed (scoring the decision, if any); the full
    record, not yet stored. ``on_token``: each output token id as it is generated (the record is the
    same with or without it)."""
    from .decision.generate import generate_with_decision
    from .decision.outcome import build_decision
    from .generation import run_generation

    prepared, config = prepare(loaded, request.params, **request.prompt)
    spec = request.decision
    if spec is None:
        out, label_logprobs, label_ids = (
            run_generation(loaded, prepared.input_ids, config, request.seed, on_token),
            None,
            None,
        )
    else:
        label_ids = decision_labels(loaded, prepared, spec, int(config.max_new_tokens))
        out, label_logprobs = generate_with_decision(
            loaded, prepared.input_ids, config, request.seed, spec.labels, label_ids, spec.mode, on_token
        )
    generation_config = config_to_record(config)
    generation_config.update(
        {
            "batch_size": 1,
            "attn_implementation": loaded.attn_implementation,
            "dtype": str(loaded.dtype).replace("torch.", ""),
        }
    )
    tokenizer = loaded.tokenizer
    output_text = tokenizer.decode(out.output_ids, skip_special_tokens=True)
    decision = (
        None
        if spec is None
        else build_decision(
            spec.labels,
            spec.favourable,
            spec.mode,
            label_ids,
            label_logprobs,
            output_text,
            spec.reasons,
            spec.protected,
            spec.min_label_mass,
            spec.frame,
            [[tokenizer.decode([t]) for t in ids] for ids in label_ids],
        )
    )
    return GenerationRecord(
        id=request.record_id or uuid7(int(out.started * 1000)),
        started_at=utc_iso(out.started),
        finished_at=utc_iso(out.finished),
        duration_s=round(out.finished - out.started, 6),
        use_case=request.use_case,
        operator=request.operator,
        prompt_kind=prepared.kind,
        prompt=prepared.text,
        template=prepared.template,
        variables=prepared.variables,
        messages=prepared.messages,
        system=prepared.system,
        add_special_tokens=prepared.add_special_tokens,
        input_ids=prepared.input_ids,
        output_ids=out.output_ids,
        output_text=output_text,
        finish_reason=out.finish_reason,
        token_logprobs=out.scored.token_logprobs,
        top_logprobs=[
            [TopAlternative(int(i), tokenizer.decode([int(i)]), float(lp)) for i, lp in zip(ids, lps)]
            for ids, lps in zip(out.scored.top_ids, out.scored.top_logprobs)
        ],
        generation_config=generation_config,
        seed=request.seed,
        model=loaded.identity,
        environment=capture_environment(loaded.device, loaded.dtype),
        tags=request.tags,
        decision=decision,
    )


def store_record(db_path: Path, record: GenerationRecord, guard: PrivacyGuard | None = None) -> GenerationRecord:
    """Append ``record`` (redacted and sealed first when ``guard`` has a policy); returns it with ``seq`` set.

    The caller keeps the clear record: it is what was generated. What is stored, for a sealed
    record, is the protected copy; its ``seq`` and privacy tags are copied back.
    """
    append_record(db_path, record, guard)
    return record


def append_record(db_path: Path, record: GenerationRecord, guard: PrivacyGuard | None = None) -> str:
    """:func:`store_record`, returning the SHA-256 of the logged payload (what a receipt cites)."""
    stored = guard.protect(record) if guard is not None and guard.policy is not None else record
    # A database that cannot take it: the record is kept in the journal, never lost.
    write = lambda store: store.events.at(store.records.append(stored)).payload_sha256  # noqa: E731
    payload_sha256 = journal.store_or_keep(db_path, "generation", stored, write)
    record.seq = stored.seq
    record.tags = stored.tags
    return payload_sha256
