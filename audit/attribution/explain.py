"""Explain one recorded generation: verify the target, run the method, time it.

Two targets (:mod:`audit.attribution.targets`). The output target is the log-probability of the
recorded output ids under teacher forcing (never a re-tokenised string): before attributing, the
unperturbed log-probabilities are recomputed with :func:`audit.scoring.teacher_forced` and compared
with the ones recorded at generation time. The decision target is log p(chosen) - log p(contrast) of
the recorded labels' token ids: the unperturbed label log-probabilities are recomputed by the label
scorer and compared with the recorded ones. Either way the largest deviation is stored with the
result, and above :data:`audit.tolerances.EXPLAIN_TOLERANCE` a warning says the explanation may not
describe the recorded generation (other weights, other kernels). The request is checked once, by
:func:`audit.attribution.request.check_request`, and resolved for the record here.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import captum
import numpy as np

from ..errors import UserError
from ..model import LoadedModel
from ..record import GenerationRecord
from ..scoring import teacher_forced
from ..tolerances import EXPLAIN_TOLERANCE
from .base import DEFAULT_METHOD, Context
from .deletion import deletion_check
from .inputs import build_features
from .request import ExplainRequest, check_request
from .result import AttributionResult
from .targets import DecisionTarget, OutputTarget


class LogprobMismatchWarning(UserWarning):
    """The model does not reproduce the recorded log-probabilities closely enough."""


def explain_record(
    model, tokenizer, record: GenerationRecord, method: str = DEFAULT_METHOD, granularity: str = "token", **params: Any
) -> AttributionResult:
    """Attribute ``record``'s decision (if it has one) or output to its input features (the library entry
    point; ``target="output"``/``"decision"`` and ``contrast=LABEL`` choose); nothing is stored."""
    return run_explanation(model, tokenizer, record, check_request(method, granularity, params, record))


def explain_loaded(
    loaded: LoadedModel, record: GenerationRecord, request: ExplainRequest, allow_model_mismatch: bool = False
) -> AttributionResult:
    """:func:`run_explanation` on a loaded model, labelled with the model that computed it.

    Refused (UserError, nothing computed) unless ``loaded`` is the record's model by content; with
    ``allow_model_mismatch`` the result is stored marked ``extra["model_mismatch"]`` (the mismatch in words)."""
    from ..replay.model_check import require_recorded_model

    mismatch = require_recorded_model(record, loaded.identity, "explain", allow_model_mismatch)
    result = run_explanation(loaded.model, loaded.tokenizer, record, request)
    result.extra["model"] = loaded.identity.name
    result.extra["weights_sha256"] = dict(loaded.identity.weights_sha256)
    if mismatch is not None:
        result.extra["model_mismatch"] = mismatch
    return result


def decision_target(record: GenerationRecord, request: ExplainRequest, shared: Any = None) -> DecisionTarget:
    """The resolved request's decision target, on the token ids the record scored; ``shared``: a label scorer
    of the record's prompt over all its labels, for the perturbation methods to reuse."""
    ids = record.decision.label_token_ids
    labels = record.decision.labels
    extra = (
        {}
        if shared is None
        else {"label_scorer": shared, "columns": (labels.index(request.label), labels.index(request.contrast))}
    )
    return DecisionTarget(
        request.label, request.contrast, tuple(ids[request.label]), tuple(ids[request.contrast]), extra=extra
    )


def _label_scorer(model, record: GenerationRecord, pad_id: int):
    """The label scorer of the record's prompt over all its labels, and the largest |recomputed - recorded|
    label log-probability."""
    from ..decision.scorer import LabelScorer

    decision = record.decision
    labels = decision.labels
    scorer = LabelScorer(model, record.input_ids, [decision.label_token_ids[label] for label in labels], pad_id)
    recomputed = scorer.unperturbed.tolist()
    return scorer, max(abs(a - decision.label_logprobs[label]) for a, label in zip(recomputed, labels))


def run_explanation(model, tokenizer, record: GenerationRecord, request: ExplainRequest) -> AttributionResult:
    """Attribute ``record`` as ``request`` (already checked against it) says; nothing is stored."""
    request = request.for_record(record)
    cls, params = request.method_class, request.params
    features = build_features(record, tokenizer, request.granularity, baseline_token=params.get("baseline_token", 0))
    if not features.labels:
        raise UserError(
            f"record {record.id} has no attributable {request.granularity}s (only chat markup): use another granularity"
        )
    started = time.perf_counter()
    if request.target == "decision":
        shared, deviation = _label_scorer(model, record, features.baseline_token)
        target = decision_target(record, request, shared)
    else:
        target = OutputTarget(tuple(record.output_ids))
        reference = teacher_forced(model, record.input_ids, record.output_ids).token_logprobs
        deviation = float(np.max(np.abs(np.asarray(reference) - np.asarray(record.token_logprobs))))
    if deviation > EXPLAIN_TOLERANCE:
        warnings.warn(
            f"the model gives log-probabilities up to {deviation:.2e} away from the recorded ones: the explanation "
            "may not describe the recorded generation (explain with the model, dtype and device that recorded it)",
            LogprobMismatchWarning,
            stacklevel=2,
        )
    context = Context(model=model, features=features, output_ids=list(record.output_ids), params=params, target=target)
    out = cls().attribute(context)
    seconds = time.perf_counter() - started
    deletion = deletion_check(context, out.seq_attr)  # after the timing: a check, not the method's cost
    score = None
    if request.target == "decision":
        decision = record.decision
        score = decision.label_logprobs[target.label] - decision.label_logprobs[target.contrast]
    stored_params = {
        **params,
        "target": target.stored(score),
        "baseline_field": "" if features.template is not None else None,
        "captum": captum.__version__,
    }
    return AttributionResult(
        record_id=record.id,
        method=cls.name,
        granularity=request.granularity,
        features=list(features.labels),
        output_tokens=target.row_labels(tokenizer),
        token_attr=np.ascontiguousarray(out.token_attr, dtype=np.float32),
        seq_attr=np.ascontiguousarray(out.seq_attr, dtype=np.float32),
        params=stored_params,
        seconds=round(seconds, 6),
        convergence_delta=out.convergence_delta,
        logprob_max_diff=deviation,
        extra={
            "evaluations": out.evaluations,
            "feature_positions": features.groups,
            "seed": params.get("perturbation_seed"),
            **({"completeness": out.completeness} if out.completeness is not None else {}),
            **({"deletion": deletion} if deletion is not None else {}),
        },
    )


__all__ = ["LogprobMismatchWarning", "explain_loaded", "explain_record", "run_explanation"]
