"""A generation recorded on the model loaded here: request -> prompt and config -> model -> record."""

from __future__ import annotations

from collections.abc import Callable

from ..environment import capture_environment
from ..ids import uuid7
from ..model import LoadedModel
from ..params import config_to_record
from ..record import GenerationRecord, TopAlternative
from .assemble import assemble_record
from .request import GenerationRequest
from .run import generate, prepare


def record_generation(
    loaded: LoadedModel, request: GenerationRequest, on_token: Callable[[int], None] | None = None
) -> GenerationRecord:
    """Build the prompt, generate once with the request's seed (scoring the decision, if any); the full
    record, not yet stored. ``on_token``: each output token id as it is generated (the record is the
    same with or without it)."""
    prepared, config = prepare(loaded, request)
    generated = generate(loaded, prepared, config, request, on_token)
    out = generated.out
    generation_config = config_to_record(config)
    generation_config.update(
        {
            "batch_size": 1,
            "attn_implementation": loaded.attn_implementation,
            "dtype": str(loaded.dtype).replace("torch.", ""),
        }
    )
    tokenizer = loaded.tokenizer
    return assemble_record(
        request,
        prepared,
        record_id=request.record_id or uuid7(int(out.started * 1000)),
        started=out.started,
        finished=out.finished,
        output_ids=out.output_ids,
        output_text=generated.output_text,
        finish_reason=out.finish_reason,
        token_logprobs=out.scored.token_logprobs,
        top_logprobs=[
            [TopAlternative(int(i), tokenizer.decode([int(i)]), float(lp)) for i, lp in zip(ids, lps)]
            for ids, lps in zip(out.scored.top_ids, out.scored.top_logprobs)
        ],
        generation_config=generation_config,
        model=loaded.identity,
        environment=capture_environment(loaded.device, loaded.dtype),
        decision=generated.decision,
    )
