"""Replay one record: check the model, regenerate exactly as recorded, compare.

Regeneration goes through :func:`audit.generation.run_generation`, the code path that
recorded the output, with the recorded input ids (not a re-tokenised prompt), the
recorded effective generation config and the recorded seed; seeding therefore happens in
the one place it always happens (:mod:`audit.determinism`).
"""

from __future__ import annotations

import time

from ..clock import utc_iso
from ..environment import capture_environment
from ..errors import UserError
from ..generation import run_generation
from ..ids import uuid7
from ..model import LoadedModel
from ..record import GenerationRecord
from ..tolerances import REPLAY_TOLERANCE, check_tolerance
from ..traffic.proxied import require_local_tokens
from .compare import compare_decisions, compare_outputs
from .config import rebuild_generation_config
from .environment_diff import diff_environments
from .model_check import compare_models, describe_mismatch, mismatched_fields
from .result import ReplayResult


def check_model(record: GenerationRecord, loaded: LoadedModel, allow_model_mismatch: bool) -> dict:
    """The field-by-field comparison; raises unless the models match or mismatch is allowed."""
    require_local_tokens(record, "a local replay")
    comparison = compare_models(record.model, loaded.identity)
    if mismatched_fields(comparison) and not allow_model_mismatch:
        raise UserError(
            f"record {record.id} was produced by another model ({describe_mismatch(comparison)}): "
            "pass the record's model with --model, or --allow-model-mismatch to replay anyway"
        )
    return comparison


def replay_record(
    record: GenerationRecord,
    loaded: LoadedModel,
    *,
    allow_model_mismatch: bool = False,
    tolerance: float = REPLAY_TOLERANCE,
) -> ReplayResult:
    """Replay ``record`` on ``loaded``; the result is not stored (see ``Auditor.replay``)."""
    tolerance = check_tolerance(tolerance)
    comparison = check_model(record, loaded, allow_model_mismatch)
    config = rebuild_generation_config(record.generation_config)
    started = time.perf_counter()
    decision = record.decision
    if decision is None:
        out, label_logprobs = run_generation(loaded, record.input_ids, config, record.seed), None
    else:
        from ..decision.generate import generate_with_decision

        label_ids = [decision.label_token_ids[label] for label in decision.labels]
        out, label_logprobs = generate_with_decision(
            loaded, record.input_ids, config, record.seed, decision.labels, label_ids, decision.mode
        )
    # After generation, like the recorder, so the determinism flags seeding set are included.
    environment = capture_environment(loaded.device, loaded.dtype)
    tokenizer = loaded.tokenizer
    verdict = compare_outputs(
        record,
        out.output_ids,
        out.scored.token_logprobs,
        [list(zip(ids, lps)) for ids, lps in zip(out.scored.top_ids, out.scored.top_logprobs)],
        lambda token_id: tokenizer.decode([int(token_id)]),
        tolerance,
    )
    decided = None if decision is None else compare_decisions(decision, label_logprobs, tolerance)
    seconds = time.perf_counter() - started
    retokenised = tokenizer(record.prompt, add_special_tokens=record.add_special_tokens)["input_ids"]
    return ReplayResult(
        record_id=record.id,
        verdict=verdict.verdict if decided is None else decided.verdict(verdict.verdict),
        model_match=comparison,
        environment_diff=diff_environments(record.environment, environment),
        first_divergence=verdict.first_divergence,
        max_logprob_diff=verdict.max_logprob_diff,
        replayed_output_ids=out.output_ids,
        seconds=round(seconds, 6),
        allow_model_mismatch=allow_model_mismatch,
        id=uuid7(),
        created_at=utc_iso(),
        tolerance=tolerance,
        model_matches=not mismatched_fields(comparison),
        replayed_token_logprobs=out.scored.token_logprobs,
        extra={
            "recorded_duration_s": record.duration_s,
            "replayed_output_text": tokenizer.decode(out.output_ids, skip_special_tokens=True),
            "replayed_finish_reason": out.finish_reason,
            # Replay uses the recorded ids; this says whether today's tokenizer would agree.
            "prompt_retokenises_identically": list(retokenised) == list(record.input_ids),
            "model": loaded.identity.to_dict(),
            "environment": environment.to_dict(),
            **({} if decided is None else {"decision": decided.to_dict()}),
        },
    )
