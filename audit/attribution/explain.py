"""Explain one recorded generation: check the request, verify the target, run the method, time it.

The target is the log-probability of the recorded output ids under teacher forcing (never a
re-tokenised string). Before attributing, the unperturbed log-probabilities are recomputed with
:func:`audit.scoring.teacher_forced` and compared with the ones recorded at generation time; the
largest deviation is stored with the result, and above :data:`LOGPROB_TOLERANCE` a warning says the
explanation may not describe the recorded generation (other weights, other kernels).
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import captum
import numpy as np

from ..errors import UserError
from ..record import GenerationRecord
from ..scoring import teacher_forced
from . import methods  # noqa: F401 - registers the methods
from .base import AttributionMethod, Context, get_method, method_names
from .inputs import GRANULARITIES, build_features
from .result import AttributionResult

DEFAULT_METHOD = "feature-ablation"
LOGPROB_TOLERANCE = 1e-3


class LogprobMismatchWarning(UserWarning):
    """The model does not reproduce the recorded log-probabilities closely enough."""


def check_request(
    record: GenerationRecord | None, method: str, granularity: str, params: dict[str, Any]
) -> tuple[type[AttributionMethod], dict[str, Any]]:
    """Everything a user can get wrong, checked without a model (so a refusal costs nothing)."""
    cls = get_method(method)
    if granularity not in GRANULARITIES:
        raise UserError(f"unknown granularity {granularity!r}: use one of {', '.join(GRANULARITIES)}")
    resolved = cls.resolve(params)
    if record is not None:
        if not record.output_ids:
            raise UserError(f"record {record.id} has no output tokens: there is nothing to explain")
        if granularity == "field" and (record.prompt_kind != "template" or not record.template):
            raise UserError(
                f"record {record.id} has no template, so no fields: use --granularity token (or segment for chat prompts)"
            )
        chat = record.prompt_kind == "messages" or (record.prompt_kind == "template" and not record.add_special_tokens)
        if granularity == "segment" and not chat:
            raise UserError(f"record {record.id} is a plain-text prompt without chat segments: use --granularity token")
    return cls, resolved


def explain_record(
    model, tokenizer, record: GenerationRecord, method: str = DEFAULT_METHOD, granularity: str = "token", **params: Any
) -> AttributionResult:
    """Attribute ``record``'s output to its input features; nothing is stored here."""
    cls, resolved = check_request(record, method, granularity, params)
    features = build_features(record, tokenizer, granularity, baseline_token=resolved.get("baseline_token", 0))
    if not features.labels:
        raise UserError(
            f"record {record.id} has no attributable {granularity}s (only chat markup): use another granularity"
        )
    started = time.perf_counter()
    reference = teacher_forced(model, record.input_ids, record.output_ids).token_logprobs
    deviation = float(np.max(np.abs(np.asarray(reference) - np.asarray(record.token_logprobs))))
    if deviation > LOGPROB_TOLERANCE:
        warnings.warn(
            f"the model gives log-probabilities up to {deviation:.2e} away from the recorded ones: the explanation "
            "may not describe the recorded generation (explain with the model, dtype and device that recorded it)",
            LogprobMismatchWarning,
            stacklevel=2,
        )
    out = cls().attribute(Context(model=model, features=features, output_ids=list(record.output_ids), params=resolved))
    seconds = time.perf_counter() - started
    params_out = {
        **resolved,
        "target": "log-probability of the recorded output ids (teacher forcing)",
        "baseline_field": "" if features.template is not None else None,
        "captum": captum.__version__,
    }
    if not cls.stochastic:
        params_out.pop("perturbation_seed", None)
    return AttributionResult(
        record_id=record.id,
        method=cls.name,
        granularity=granularity,
        features=list(features.labels),
        output_tokens=[tokenizer.decode([t]) for t in record.output_ids],
        token_attr=np.ascontiguousarray(out.token_attr, dtype=np.float32),
        seq_attr=np.ascontiguousarray(out.seq_attr, dtype=np.float32),
        params=params_out,
        seconds=round(seconds, 6),
        convergence_delta=out.convergence_delta,
        logprob_max_diff=deviation,
        extra={
            "evaluations": out.evaluations,
            "feature_positions": features.groups,
            "seed": resolved.get("perturbation_seed"),
        },
    )


__all__ = [
    "DEFAULT_METHOD",
    "LOGPROB_TOLERANCE",
    "check_request",
    "explain_record",
    "method_names",
    "LogprobMismatchWarning",
]
