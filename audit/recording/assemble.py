"""Record assembly: what was generated, here or by another server, as one :class:`GenerationRecord`.

The one place a generation record is built from a request: the local path
(:func:`audit.recording.local.record_generation`) and the proxied path
(:func:`audit.traffic.proxied.proxied_record`) both call :func:`assemble_record`, so the two
can only differ in what they know, never in how a field is filled.
"""

from __future__ import annotations

from typing import Any

from ..clock import utc_iso
from ..prompts import PromptInput
from ..record import DecisionRecord, GenerationRecord, ModelIdentity, TopAlternative
from .request import GenerationRequest


def assemble_record(
    request: GenerationRequest,
    prepared: PromptInput,
    *,
    record_id: str,
    started: float,
    finished: float,
    output_ids: list[int],
    output_text: str,
    finish_reason: str,
    token_logprobs: list[float],
    top_logprobs: list[list[TopAlternative]],
    generation_config: dict[str, Any],
    model: ModelIdentity,
    environment: Any,
    tags: dict[str, Any] | None = None,
    decision: DecisionRecord | None = None,
) -> GenerationRecord:
    """The record of ``request`` run on ``prepared``; ``tags``: the request's, with what the path adds."""
    return GenerationRecord(
        id=record_id,
        started_at=utc_iso(started),
        finished_at=utc_iso(finished),
        duration_s=round(finished - started, 6),
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
        output_ids=output_ids,
        output_text=output_text,
        finish_reason=finish_reason,
        token_logprobs=token_logprobs,
        top_logprobs=top_logprobs,
        generation_config=generation_config,
        seed=request.seed,
        model=model,
        environment=environment,
        tags=request.tags if tags is None else tags,
        decision=decision,
    )
