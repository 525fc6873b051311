"""Section 2, the decision (``decision.html.j2``): the prompt, the fields, the output and how sure the model was."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ...record import GenerationRecord
from ..decision_view import DecisionOutcome, decision_outcome, known_tokens
from ..evidence import mean_logprob
from ..prompt_view import Segment, prompt_segments
from ..reasons import field_words
from .values import Rows, value_text


@dataclass
class Decision:
    kind: str
    segments: list[Segment]
    fields: Rows  # (field in words, value)
    system_message: str | None
    output_text: str
    finish_reason: str
    input_tokens: int
    output_tokens: int
    mean_logprob: str
    perplexity: str
    low_confidence: list[tuple[str, str, str]]  # (step, token, log-prob) of the least likely output tokens
    privacy: str | None = None  # "Erased on <date> under <reason>..." or the redaction note, for sealed records
    outcome: DecisionOutcome | None = None  # the scored decision, for records with one (shown first)


def decision_section(record: GenerationRecord, privacy: str | None = None) -> Decision:
    mean = mean_logprob(record)
    steps = sorted(range(len(record.token_logprobs)), key=lambda i: (record.token_logprobs[i], i))[:3]
    known = known_tokens(record)
    low = []
    for i in sorted(steps):
        chosen = known.get(record.output_ids[i])
        low.append(
            (
                str(i + 1),
                chosen if chosen is not None else f"id {record.output_ids[i]}",
                f"{record.token_logprobs[i]:.3f}",
            )
        )
    return Decision(
        kind=record.prompt_kind,
        segments=prompt_segments(record),
        fields=[(field_words(k), value_text(v)) for k, v in (record.variables or {}).items()],
        system_message=record.system,
        output_text=record.output_text,
        finish_reason={"eos": "the model ended its answer", "length": "the token limit was reached"}.get(
            record.finish_reason, record.finish_reason
        ),
        input_tokens=record.input_tokens,
        output_tokens=record.output_tokens,
        mean_logprob=f"{mean:.3f}" if math.isfinite(mean) else "n/a",
        perplexity=f"{math.exp(-mean):.2f}" if math.isfinite(mean) else "n/a",
        low_confidence=low,
        privacy=privacy,
        outcome=decision_outcome(record),
    )
