"""The view model of one decision's dossier: plain values in the order the report shows them.

Everything a template needs is computed here (texts, numbers, colour buckets, geometry);
the templates in ``reports/templates/`` only lay it out. Absent evidence becomes a plain
sentence saying what is missing and how to produce it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..attention.result import AttentionResult
from ..attribution.result import AttributionResult
from ..record import GenerationRecord
from ..replay.result import ReplayResult
from ..tolerances import EXPLAIN_TOLERANCE
from .completeness import Completeness, completeness_of
from .counterfactual_view import WhatIf, what_if
from .decision_view import (
    DecisionOutcome,
    DecisionWhy,
    decision_outcome,
    decision_why,
    known_tokens,
    mark_unexplainable,
)
from .evidence import Evidence, IntegrityStatus, Review, mean_logprob
from .frames import frame_of, framed_map, framed_notes
from .heatmap import Heatmap, Thumbnail, TokenHeatmap, matrix_heatmap, thumbnail, token_heatmap
from .prompt_view import Segment, prompt_segments
from .reasons import Influence, field_words, text_influences
from .regulatory import DOSSIER_MAP, NOT_CLAIMED, Requirement

Rows = list[tuple[str, str]]


def _value(value: Any) -> str:
    """One deterministic text for any recorded value (floats by repr, containers as JSON)."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return "—" if value is None else str(value)


@dataclass
class Cover:
    system: str
    use_case: str
    record_id: str
    seq: str
    started_at: str
    finished_at: str
    operator: str
    generated_at: str
    record_hash: str
    hash_method: str
    integrity: IntegrityStatus
    model: str
    frame: str = ""  # the regulatory frame of a decision's wording ("" for a record without a decision)


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


@dataclass
class TextInfluence:
    """What changed the likelihood of the recorded text (an explanation of the output target)."""

    reasons: list[Influence]
    reasons_missing: str | None
    reasons_basis: str  # "template fields" | "prompt segments"
    field_matrix: Heatmap | None
    tokens: TokenHeatmap | None
    token_matrix: Heatmap | None
    token_missing: str | None
    completeness: list[Completeness] = field(default_factory=list)


@dataclass
class Why:
    title: str
    decision: DecisionWhy | None  # records with a decision: its principal reasons
    text: TextInfluence | None  # influence on the text (records with a decision: only where it was computed)


@dataclass
class Attention:
    missing: str | None
    rollout: Heatmap | None = None
    rollout_note: str = ""  # how the map was derived (first token left out, rows renormalised)
    thumbnails: list[Thumbnail] = field(default_factory=list)
    heads: Heatmap | None = None
    head_method: str = ""
    layers: int = 0
    head_count: int = 0


@dataclass
class Method:
    attributions: list[tuple[str, Rows]]  # (title, rows) per attribution shown
    attention: Rows
    checks: list[tuple[str, str, str]]  # (check, result, verdict "pass" | "warn" | "n/a")


@dataclass
class ReplayView:
    verdict: str
    headline: str
    rows: Rows
    model_rows: list[tuple[str, str, str, str]]  # (field, recorded, current, match)
    environment_rows: list[tuple[str, str, str]]


@dataclass
class Reproducibility:
    identity: Rows
    generation: Rows
    environment: Rows
    replay: ReplayView | None
    replay_missing: str | None
    command: str


@dataclass
class Dossier:
    anchor: str
    title: str
    cover: Cover
    decision: Decision
    why: Why
    what_if: WhatIf  # section 4: what would have changed the decision
    attention: Attention
    method: Method
    reproducibility: Reproducibility
    regulatory: tuple[Requirement, ...]
    regulatory_notes: tuple[str, ...]
    reviews: list[Review]


def _cover(evidence: Evidence, generated_at: str, integrity: IntegrityStatus) -> Cover:
    record = evidence.record
    logged = evidence.logged
    if logged is not None:
        digest = logged.payload_sha256
        how = f"the payload_sha256 of its generation event, seq {logged.seq} of the audit log (RFC 8785 canonical JSON)"
    else:
        digest, how = "not in the audit log", "no generation event for this record was found in the audit log"
    return Cover(
        system=f"llm-audit · {record.model.name}",
        use_case=record.use_case,
        record_id=record.id,
        seq=str(record.seq) if record.seq is not None else "—",
        started_at=record.started_at,
        finished_at=record.finished_at,
        operator=record.operator,
        generated_at=generated_at,
        record_hash=digest,
        hash_method=how,
        integrity=integrity,
        model=f"{record.model.name} ({record.model.architecture}, {record.model.parameter_count:,} parameters)",
        frame=frame_of(record).cover if record.decision is not None else "",
    )


def _decision(record: GenerationRecord, privacy: str | None = None) -> Decision:
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
        fields=[(field_words(k), _value(v)) for k, v in (record.variables or {}).items()],
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


def _why(evidence: Evidence) -> Why:
    record = evidence.record
    if record.decision is None:
        return Why("Why: influence on the text", None, _text_influence(evidence))
    decision = decision_why(
        record,
        evidence.decision_attribution,
        evidence.decision_token_attribution,
        evidence.counterfactuals,
        evidence.fairness_flips,
    )
    text = _text_influence(evidence) if evidence.field_attribution or evidence.token_attribution else None
    return Why("Why: principal reasons for the decision", decision, text)


def _text_influence(evidence: Evidence) -> TextInfluence:
    rid = evidence.record.id
    fa, ta = evidence.field_attribution, evidence.token_attribution
    reasons, missing, basis, field_matrix = [], None, "template fields", None
    if fa is not None:
        basis = "template fields" if fa.granularity == "field" else "prompt segments"
        reasons = text_influences(fa.features, fa.seq_attr)
        if not reasons:
            missing = "The attribution found no field with a material effect on the recorded text."
        field_matrix = matrix_heatmap(
            np.asarray(fa.token_attr),
            list(fa.output_tokens),
            [field_words(f) for f in fa.features],
            row_axis="output token",
            col_axis=basis[:-1],
        )
    elif evidence.record.template:
        missing = f"No field-level attribution of the text has been computed for this record. Run: llm-audit explain {rid} --granularity field"
    else:
        missing = "This record has no template fields and no segment attribution has been computed, so influence cannot be stated as fields."
    tokens = token_matrix = None
    token_missing = None
    if ta is not None:
        tokens = token_heatmap(
            list(ta.features), list(ta.output_tokens), np.asarray(ta.token_attr), np.asarray(ta.seq_attr)
        )
        token_matrix = matrix_heatmap(
            np.asarray(ta.token_attr),
            list(ta.output_tokens),
            list(ta.features),
            row_axis="output token",
            col_axis="input token",
        )
    else:
        token_missing = f"No token-level attribution has been computed for this record. Run: llm-audit explain {rid} --granularity token"
    if fa is None and ta is None:
        token_missing = f"No attribution has been computed for this record. Run: llm-audit explain {rid}"
    notes = [c for c in (completeness_of(r, "log-probability of the text") for r in (fa, ta)) if c is not None]
    return TextInfluence(reasons, missing, basis, field_matrix, tokens, token_matrix, token_missing, notes)


def rollout_without_first(rollout: np.ndarray) -> tuple[np.ndarray, float]:
    """The rollout block with the first input token left out and each row renormalised to sum to 1, and the
    first token's mean share of a row before (about 0.999 in SmolLM2: the attention sink, not information)."""
    totals = rollout.sum(axis=1, keepdims=True)
    first = float(np.mean(rollout[:, 0] / np.where(totals[:, 0] > 0, totals[:, 0], 1.0))) if rollout.size else 0.0
    rest = rollout[:, 1:]
    sums = rest.sum(axis=1, keepdims=True)
    return rest / np.where(sums > 0, sums, 1.0), first


def _attention(result: AttentionResult | None, record: GenerationRecord) -> Attention:
    record_id = record.id
    if result is None:
        return Attention(
            missing=f"No attention analysis has been computed for this record. Run: llm-audit attention {record_id}"
        )
    inputs = list(result.tokens[: result.n_input])
    outputs = list(result.tokens[result.n_input :])
    rollout = np.asarray(result.rollout, dtype=np.float64)
    rows = outputs[: rollout.shape[0]]
    if record.decision is not None and rows:
        rows[0] = f"{rows[0]} ← decision"  # the position predicting the answer's first token scored the labels
    note = "Rows are output tokens, columns input tokens."
    if rollout.shape[1] > 1:
        rollout, first = rollout_without_first(rollout)
        inputs = inputs[1:]
        note = (
            f"The first input token is left out: it held on average {first:.4f} of each row (an attention sink, "
            "which carries no information about the input), and each row is renormalised to sum to 1 over the "
            "remaining input tokens, so the map shows how the rest is shared."
        )
    if record.decision is not None:
        note += (
            " The row marked ← decision is the position at which the decision was scored (it predicts the "
            "answer's first token, where every label starts)."
        )
    rollout_map = matrix_heatmap(
        rollout,
        rows,
        inputs[: rollout.shape[1]],
        scale="sequential",
        row_axis="output token",
        col_axis="input token",
        value_name="rollout share",
    )
    layer_mean = np.asarray(result.layer_mean, dtype=np.float64)
    thumbs = [thumbnail(layer_mean[i], f"Layer {i + 1}") for i in range(layer_mean.shape[0])]
    importance = np.asarray(result.head_importance, dtype=np.float64)
    scale = "diverging" if (importance < 0).any() else "sequential"
    heads = matrix_heatmap(
        importance,
        [f"L{i + 1}" for i in range(importance.shape[0])],
        [f"H{j + 1}" for j in range(importance.shape[1])],
        scale=scale,
        row_axis="layer",
        col_axis="head",
        max_cell=26.0,
        width=360,
        value_name="importance",
    )
    return Attention(None, rollout_map, note, thumbs, heads, result.head_importance_method, result.layers, result.heads)


def _attribution_rows(result: AttributionResult) -> Rows:
    target = result.target
    rows: Rows = [
        ("Method", result.method),
        ("Granularity", result.granularity),
        ("Features", str(len(result.features))),
    ]
    if target.kind == "decision":
        rows.append(("Target", f"log p({target.label}) - log p({target.contrast}) = {float(target.score or 0):+.4f}"))
    else:
        rows.append(("Output tokens", str(len(result.output_tokens))))
    rows += [(field_words(k), _value(v)) for k, v in sorted(result.params.items()) if k != "target"]
    rows.append(("Target description", target.description or "—"))
    if result.convergence_delta:
        rows.append(("Largest |convergence delta|", f"{max(abs(x) for x in result.convergence_delta):.3g}"))
    rows.append(("Computed", f"{result.created_at or '—'} in {result.seconds:.2f} s"))
    return rows


def _method(evidence: Evidence) -> Method:
    attributions = []
    checks: list[tuple[str, str, str]] = []
    for title, result in (
        ("Decision attribution (fields)", evidence.decision_attribution),
        ("Decision attribution (tokens)", evidence.decision_token_attribution),
        ("Field attribution of the text", evidence.field_attribution),
        ("Token attribution of the text", evidence.token_attribution),
    ):
        if result is None:
            continue
        if result.granularity == "segment":
            title = title.replace("fields", "segments").replace("Field", "Segment")
        attributions.append((title, _attribution_rows(result)))
        if (result.extra or {}).get("model_mismatch"):
            checks.append((f"{title}: computed on the recorded model", f"no: {result.extra['model_mismatch']}", "warn"))
        complete = completeness_of(result, "score")
        if complete is not None:
            checks.append(
                (
                    f"{title}: completeness (attributions against the score change)",
                    f"sum {complete.attributed:+.3g}, change {complete.change:+.3g}, gap {complete.gap:+.3g}",
                    "pass" if complete.adds_up else "warn",
                )
            )
        if result.logprob_max_diff is not None:
            ok = result.logprob_max_diff <= EXPLAIN_TOLERANCE
            what = "label" if result.target.kind == "decision" else "output"
            checks.append(
                (
                    f"{title}: unperturbed vs recorded {what} log-probabilities",
                    f"max difference {result.logprob_max_diff:.2e} (tolerance {EXPLAIN_TOLERANCE:g})",
                    "pass" if ok else "warn",
                )
            )
        if result.convergence_delta:
            delta = max(abs(x) for x in result.convergence_delta)
            checks.append(
                (
                    f"{title}: integrated-gradients completeness",
                    f"largest |convergence delta| {delta:.3g}",
                    "pass" if delta <= 0.05 else "warn",
                )
            )
    counterfactual = evidence.counterfactual
    if counterfactual is not None:
        ok = counterfactual.logprob_max_diff <= EXPLAIN_TOLERANCE
        checks.append(
            (
                "Counterfactual run: recorded prompt re-scored vs recorded label log-probabilities",
                f"max difference {counterfactual.logprob_max_diff:.2e} (tolerance {EXPLAIN_TOLERANCE:g})",
                "pass" if ok else "warn",
            )
        )
    for standing in evidence.fairness_flips:
        ok = standing.run.logprob_max_diff <= EXPLAIN_TOLERANCE
        checks.append(
            (
                f"Protected-attribute run {standing.run.id}: recorded prompts re-scored vs recorded label log-probabilities",
                f"max difference {standing.run.logprob_max_diff:.2e} over its records (tolerance {EXPLAIN_TOLERANCE:g})",
                "pass" if ok else "warn",
            )
        )
    attention: Rows = []
    result = evidence.attention
    if result is not None:
        attention = [
            ("Layers x heads", f"{result.layers} x {result.heads}"),
            ("Rollout", "attention rollout (Abnar & Zuidema 2020), residual added, rows renormalised"),
            ("Head importance", result.head_importance_method),
            ("Computed", f"{result.created_at or '—'} in {result.seconds:.2f} s"),
        ]
        if result.logprob_max_diff is not None:
            ok = result.logprob_max_diff <= EXPLAIN_TOLERANCE
            checks.append(
                (
                    "Attention pass vs recorded log-probabilities",
                    f"max difference {result.logprob_max_diff:.2e} (tolerance {EXPLAIN_TOLERANCE:g})",
                    "pass" if ok else "warn",
                )
            )
    return Method(attributions, attention, checks)


def _replay(result: ReplayResult) -> ReplayView:
    headline = {
        "identical": "Replay reproduced the recorded output token for token.",
        "logprob-drift": "Replay produced the same tokens, but the log-probabilities drifted beyond tolerance.",
        "diverged": "Replay produced a DIFFERENT output.",
        "decision-changed": "Replay reached a DIFFERENT DECISION from the recorded one.",
    }.get(result.verdict, f"Replay verdict: {result.verdict}")
    rows: Rows = [("Verdict", result.verdict), ("Replayed at", result.created_at or "—")]
    decided = result.decision
    if decided is not None:
        recorded, replayed = decided["recorded_chosen"], decided["replayed_chosen"]
        rows.append(
            (
                "Decision",
                f"recorded {recorded} (p {decided['recorded_probabilities'][recorded]:.3f}), replayed {replayed} "
                f"(p {decided['replayed_probabilities'][replayed]:.3f}); largest label log-probability difference "
                f"{decided['max_logprob_diff']:.2e}",
            )
        )
    if result.max_logprob_diff is not None:
        rows.append(("Largest log-probability difference", f"{result.max_logprob_diff:.2e}"))
    d = result.first_divergence
    if d is not None:
        margin = f", recorded top-1 vs top-2 margin {d.recorded_margin:.3f}" if d.recorded_margin is not None else ""
        rows.append(
            (
                "First divergence",
                f"step {d.step + 1}: recorded {d.recorded_token!r}, replayed {d.replayed_token!r}{margin}",
            )
        )
    if result.allow_model_mismatch:
        rows.append(("Model mismatch allowed", "yes: the replay ran on a model that differs from the recorded one"))
    model_rows = [
        (k, _value(v.get("recorded")), _value(v.get("current")), "yes" if v.get("match") else "NO")
        for k, v in sorted(result.model_match.items())
        if isinstance(v, dict)
    ]
    env_rows = [
        (k, _value(v.get("recorded")), _value(v.get("current")))
        for k, v in sorted(result.environment_diff.items())
        if isinstance(v, dict)
    ]
    return ReplayView(result.verdict, headline, rows, model_rows, env_rows)


def _reproducibility(evidence: Evidence) -> Reproducibility:
    record = evidence.record
    m = record.model
    identity: Rows = [
        ("Name", m.name),
        ("Source", m.source),
        ("Architecture", f"{m.architecture} ({m.model_type})"),
        ("Parameters", f"{m.parameter_count:,}"),
        ("Revision", _value(m.revision)),
        ("Context length", _value(m.context_length)),
    ]
    identity += [(f"Weights SHA-256 ({name})", digest) for name, digest in sorted(m.weights_sha256.items())]
    identity.append(("Config SHA-256", m.config_sha256))
    identity += [(f"Tokenizer SHA-256 ({name})", digest) for name, digest in sorted(m.tokenizer_sha256.items())]
    identity.append(("Chat template SHA-256", _value(m.chat_template_sha256)))
    generation: Rows = [("Seed", str(record.seed))] + [
        (k, _value(v)) for k, v in sorted(record.generation_config.items())
    ]
    generation.append(("Special tokens added", "yes" if record.add_special_tokens else "no"))
    e = record.environment
    environment: Rows = [
        ("Python", e.python),
        ("Platform", e.platform),
        ("Machine", e.machine),
        ("CPU", e.cpu),
        ("Device", f"{e.device} ({e.device_name})"),
        ("dtype", e.dtype),
        ("Threads", str(e.threads)),
    ]
    environment += [(name, _value(version)) for name, version in sorted(e.packages.items())]
    environment += [(f"determinism: {k}", _value(v)) for k, v in sorted(e.determinism.items())]
    replay = _replay(evidence.replay) if evidence.replay is not None else None
    missing = None if replay else f"This record has not been replayed. Run: llm-audit replay {record.id}"
    return Reproducibility(identity, generation, environment, replay, missing, f"llm-audit replay {record.id}")


def build_dossier(evidence: Evidence, generated_at: str, integrity: IntegrityStatus, index: int = 0) -> Dossier:
    """The whole dossier for one record; ``index`` keeps element ids unique in a multi-record file."""
    record = evidence.record
    why = _why(evidence)
    return Dossier(
        anchor=f"d{index}",
        title=f"Decision dossier · {record.use_case}",
        cover=_cover(evidence, generated_at, integrity),
        decision=mark_unexplainable(_decision(record, evidence.privacy), why),
        why=why,
        what_if=what_if(evidence),
        attention=_attention(evidence.attention, record),
        method=_method(evidence),
        reproducibility=_reproducibility(evidence),
        regulatory=framed_map(DOSSIER_MAP, frame_of(record) if record.decision is not None else None),
        regulatory_notes=framed_notes(NOT_CLAIMED, frame_of(record) if record.decision is not None else None),
        reviews=list(evidence.reviews),
    )
