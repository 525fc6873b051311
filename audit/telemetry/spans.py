"""What one recorded generation is as an OpenTelemetry span, by the GenAI semantic conventions.

One span per record, named ``{gen_ai.operation.name} {gen_ai.request.model}``, from its start to its
finish time, with ``gen_ai.operation.name`` (``chat`` for a chat prompt, else ``text_completion``),
``gen_ai.provider.name``, ``gen_ai.request.*`` (model, max_tokens, temperature, top_p, top_k, seed),
``gen_ai.usage.input_tokens``/``output_tokens``, ``gen_ai.response.*`` (id: the record id, model,
finish_reasons), and ``llm_audit.*`` attributes: the record id, its log position (the ``generation``
event's seq), the use case and, for a decision, the chosen label, margin and label mass. Prompt and
completion content (``gen_ai.input.messages``, ``gen_ai.output.messages``) only when asked for, as the
conventions require (off by default), and never for a record stored under a privacy policy.

Evaluations are ``gen_ai.evaluation.result`` events: the record's latest replay (score 1 when it
reproduced the output exactly, label the verdict), and for a fairness run one span with one event per
protected attribute (score: the flip rate; label ``flips`` or ``no flips``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..fairness.result import FairnessResult
from ..record import GenerationRecord
from ..replay.result import ReplayResult

PROVIDER = "llm-audit"
EVALUATION = "gen_ai.evaluation.result"
_FINISH = {"eos": "stop", "stop": "stop", "length": "length"}
_REQUEST = {"max_new_tokens": "max_tokens", "temperature": "temperature", "top_p": "top_p", "top_k": "top_k"}


@dataclass
class EventSpec:
    name: str
    time_ns: int
    attributes: dict[str, Any]


@dataclass
class SpanSpec:
    name: str
    trace_id: int  # the record's UUID (128 bits): find a record's trace by its id
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    span_events: list[EventSpec] = field(default_factory=list)  # gen_ai.evaluation.result events


def nanoseconds(stamp: str) -> int:
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


def _trace_id(uuid_text: str | None) -> int:
    try:
        return int((uuid_text or "").replace("-", ""), 16) or 1
    except ValueError:
        return 1


def _sealed(record: GenerationRecord) -> bool:
    """Stored under a privacy policy: its content is governed by the policy, so it never leaves as telemetry."""
    return bool(isinstance(record.tags, dict) and record.tags.get("privacy"))


def record_span(
    record: GenerationRecord, log_seq: int | None, replay: ReplayResult | None = None, content: bool = False
) -> SpanSpec:
    chat = record.prompt_kind == "messages" or bool(record.messages)
    operation = "chat" if chat else "text_completion"
    a: dict[str, Any] = {
        "gen_ai.operation.name": operation,
        "gen_ai.provider.name": PROVIDER,
        "gen_ai.request.model": record.model.name,
        "gen_ai.response.model": record.model.name,
        "gen_ai.response.id": record.id,
        "gen_ai.response.finish_reasons": [_FINISH.get(record.finish_reason, record.finish_reason)],
        "gen_ai.usage.input_tokens": record.input_tokens,
        "gen_ai.usage.output_tokens": record.output_tokens,
        "gen_ai.request.seed": record.seed,
        "llm_audit.record.id": record.id,
        "llm_audit.use_case": record.use_case,
        "llm_audit.operator": record.operator,
    }
    if log_seq is not None:
        a["llm_audit.log.seq"] = log_seq
    config = record.generation_config or {}
    for key, name in _REQUEST.items():
        value = config.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            a[f"gen_ai.request.{name}"] = value
    d = record.decision
    if d is not None:
        from ..monitor.tally import label_mass

        a["llm_audit.decision.chosen"] = d.chosen
        a["llm_audit.decision.favourable"] = d.favourable
        a["llm_audit.decision.margin"] = d.margin
        a["llm_audit.decision.label_mass"] = label_mass(d.label_logprobs)
    if content and not _sealed(record):
        if record.messages:
            inputs = [{"role": m.get("role", "user"), "parts": [{"type": "text", "content": m.get("content", "")}]}
                      for m in record.messages]  # fmt: skip
        else:
            inputs = [{"role": "user", "parts": [{"type": "text", "content": record.prompt}]}]
        if record.system and not record.messages:
            a["gen_ai.system_instructions"] = json.dumps([{"type": "text", "content": record.system}])
        a["gen_ai.input.messages"] = json.dumps(inputs, ensure_ascii=False)
        output = [{"role": "assistant", "parts": [{"type": "text", "content": record.output_text}],
                   "finish_reason": a["gen_ai.response.finish_reasons"][0]}]  # fmt: skip
        a["gen_ai.output.messages"] = json.dumps(output, ensure_ascii=False)
    start, end = nanoseconds(record.started_at), nanoseconds(record.finished_at)
    span = SpanSpec(f"{operation} {record.model.name}", _trace_id(record.id), start, max(start, end), a)
    if replay is not None:
        span.span_events.append(
            EventSpec(
                EVALUATION,
                nanoseconds(replay.created_at) if replay.created_at else end,
                {
                    "gen_ai.evaluation.name": "llm_audit.replay",
                    "gen_ai.evaluation.score.value": 1.0 if replay.verdict == "identical" else 0.0,
                    "gen_ai.evaluation.score.label": replay.verdict,
                    "gen_ai.evaluation.explanation": "the record re-run on its recorded model and seed "
                    + ("reproduced every token" if replay.verdict == "identical" else f"gave: {replay.verdict}"),
                    "gen_ai.response.id": record.id,
                    "llm_audit.replay.id": replay.id or "",
                },
            )
        )
    return span


def fairness_span(result: FairnessResult, log_seq: int | None) -> SpanSpec:
    """A protected-attribute run as one span, each attribute's flip rate a ``gen_ai.evaluation.result`` event."""
    at = nanoseconds(result.created_at) if result.created_at else 0
    start = max(0, at - int(result.seconds * 1e9))
    a: dict[str, Any] = {
        "gen_ai.operation.name": "evaluate",
        "gen_ai.provider.name": PROVIDER,
        "gen_ai.request.model": result.model.get("name", ""),
        "llm_audit.fairness.id": result.id or "",
        "llm_audit.use_case": result.use_case or "",
        "llm_audit.fairness.records": result.records,
    }
    if log_seq is not None:
        a["llm_audit.log.seq"] = log_seq
    span = SpanSpec("evaluate llm_audit.fairness", _trace_id(result.id), start, max(start, at), a)
    for attr in result.attributes:
        low, high = attr.flip_interval
        span.span_events.append(
            EventSpec(
                EVALUATION,
                max(start, at),
                {
                    "gen_ai.evaluation.name": f"llm_audit.flip_rate.{attr.field}",
                    "gen_ai.evaluation.score.value": float(attr.flip_rate),
                    "gen_ai.evaluation.score.label": "flips" if attr.flipped else "no flips",
                    "gen_ai.evaluation.explanation": (
                        f"{attr.flipped} of {attr.records} decisions changed when {attr.field} was swapped "
                        f"(Wilson 95% {low:.0%} to {high:.0%})"
                    ),
                },
            )
        )
    return span
