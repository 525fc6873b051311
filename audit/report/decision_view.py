"""The decision's part of a dossier: what was decided (section 2) and why, as an adverse-action notice says it (3).

Section 2 leads with the scored decision: the chosen label, its probability against the alternatives,
whether the generated text states it, and how the text was produced (free or constrained). Section 3,
for an adverse decision, lists the fields that moved the decision most toward it rather than toward the
favourable label (at most four: :func:`audit.decision.reasons.toward_decision`), each worded the way an
adverse-action notice words it, quoting the adverse-action reason the template maps the field to, with
the completeness gap stated; for a favourable decision it says that no adverse-action reasons are
required and still shows the attributions. Every figure comes from an explanation of the decision
itself (log p(chosen) - log p(contrast)) on the recorded model; nothing weaker is called a reason.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..attribution.result import AttributionResult
from ..counterfactual.result import CounterfactualResult
from ..decision.mass import label_mass, mass_headline, share_text
from ..decision.outcome import SMALL_MARGIN
from ..decision.reasons import toward_decision
from ..record import GenerationRecord
from .colors import fmt
from .completeness import Completeness, completeness_of
from .frames import Frame, frame_of
from .heatmap import TokenHeatmap, token_heatmap
from .reasons import field_words
from .reasons_gate import reasons_gate

Rows = list[tuple[str, str]]

METHOD_WORDS = {
    "feature-ablation": "each figure is how much the log-odds of {a} over {b} fall when that {unit} is removed",
    "shapley-sampling": "each figure is the {unit}'s average effect on the log-odds of {a} over {b}, over random orders of removing {units}",
    "integrated-gradients": "each figure is the {unit}'s integrated gradient of the log-odds of {a} over {b}, from a baseline where its tokens are the baseline token",
    "gradient-x-input": "each figure is the gradient of the log-odds of {a} over {b} times the {unit}'s token embeddings (a local, first-order view)",
    "lime": "each figure is a coefficient of a sparse linear model fitted to the log-odds of {a} over {b} on random subsets of {units}",
    "kernel-shap": "each figure is a Kernel SHAP value: a linear model with Shapley weights fitted to the log-odds of {a} over {b} on random subsets of {units}",
}


@dataclass
class DecisionOutcome:
    """Section 2's lead: the decision as scored and as stated."""

    chosen: str
    headline: str  # "DECLINE: probability 0.55 against APPROVE 0.45"
    adverse: bool
    outcome: str  # adverse / favourable, in words
    stated: str  # what the text states, and whether it agrees
    agrees: bool
    mode: str  # free / constrained, in words
    margin: str  # "0.20 log-odds of DECLINE over the runner-up APPROVE"
    small_margin: str | None  # a warning when the margin is small
    rows: list[tuple[str, str, str, str, str]]  # (label, renormalised, raw probability, log-probability, tokens)
    mass: str = ""  # "The labels hold 0.83 of the model's probability (minimum 0.5)."
    below_mass: bool = False  # the labels hold less than the minimum: not a decision the model made
    unexplainable: str | None = None  # set from section 3: no faithful reasons for the frame's notice
    unexplainable_flag: str = "Unexplainable for an adverse-action notice"  # the frame's words for it


@dataclass
class DecisionReason:
    rank: int
    field: str
    name: str
    value: str | None
    contribution: float
    share: float  # of the largest |attribution|, for the bar
    sentence: str
    notice: str | None  # the adverse-action reason the template maps this field to
    protected: bool = False  # a protected attribute: a prohibited basis, never a reason on the notice


@dataclass
class DecisionWhy:
    """Section 3 for a record with a decision."""

    title: str
    adverse: bool
    intro: str
    reasons: list[DecisionReason] = field(default_factory=list)
    notice: list[str] = field(default_factory=list)  # distinct mapped reasons, in rank order
    unmapped: list[str] = field(default_factory=list)  # reasons (field names in words) without a mapped notice reason
    prohibited: list[str] = field(default_factory=list)  # protected attributes among the reasons: a finding
    none_found: str | None = None
    table: list[tuple[str, str, str, str]] = field(default_factory=list)  # (field, value, attribution, direction)
    completeness: Completeness | None = None
    contrast_note: str | None = None
    missing: str | None = None
    tokens: TokenHeatmap | None = None  # token-level decision attribution (the whole-score view)
    tokens_caption: str = ""
    tokens_missing: str | None = None
    basis: str = "fields"
    gate: list[tuple[str, str, str]] = field(default_factory=list)  # (check, "pass" | "fail" | "n/a", sentence)
    unexplainable: str | None = None  # why no faithful reasons can be given (the failed checks' figures)
    frame: Frame | None = None  # the regulatory frame: the wording of the titles, the notice, protected fields


def known_tokens(record: GenerationRecord) -> dict[int, str]:
    """Token id -> text, from the labels' recorded token texts and the alternatives recorded at each output step
    (no tokenizer needed; a record written before label texts were kept names fewer)."""
    known = {alt.token_id: alt.token for step in record.top_logprobs for alt in step}
    d = record.decision
    for label, texts in ((d.label_tokens or {}) if d is not None else {}).items():
        known.update(zip(d.label_token_ids.get(label, []), texts))
    return known


def token_text(ids: list[int], tokens: dict[int, str] | None) -> str:
    """Token ids with their text where known: ``32878 "DEC", 22056 "LINE"``."""
    if not ids:
        return "[]"
    return ", ".join(
        f"{i} {json.dumps(tokens[i], ensure_ascii=False)}" if tokens and i in tokens else str(i) for i in ids
    )


def decision_outcome(record: GenerationRecord, tokens: dict[int, str] | None = None) -> DecisionOutcome | None:
    """``tokens``: token id -> text for the label ids (default: what the record's own top alternatives name)."""
    d = record.decision
    if d is None:
        return None
    frame = frame_of(record)
    tokens = known_tokens(record) if tokens is None else tokens
    others = ", ".join(f"{label} {d.probabilities[label]:.2f}" for label in d.labels if label != d.chosen)
    mass = label_mass(d)
    headline = (
        mass_headline(mass, list(d.labels))
        if mass.below
        else f"{d.chosen}: probability {d.probabilities[d.chosen]:.2f} over the labels against {others}; "
        f"the labels hold {mass.text} of the model's probability"
    )
    outcome = (
        f"Adverse to the {frame.subject}: the favourable outcome is {d.favourable}."
        if d.adverse
        else f"Favourable to the {frame.subject}."
    )
    if d.mode == "constrained":
        stated = (
            f"The text states {d.chosen} by construction: the answer was made to start with the chosen label, so this "
            "agreement says nothing about what the model would have written."
        )
    elif d.stated is None:
        stated = f"The text does NOT state a decision: none of {', '.join(d.labels)} appears in it as a label."
    elif d.agrees:
        stated = f"The text states {d.stated}: it agrees with the scored decision."
    else:
        stated = f"The text states {d.stated}, which DISAGREES with the scored decision {d.chosen}."
    mode = (
        "constrained: the labels were scored first, the answer was made to start with the most probable label's tokens, "
        "and the model continued from there"
        if d.mode == "constrained"
        else "free: the text was generated as it would be without a decision; the decision was scored separately "
        "from each label's probability at the start of the answer"
    )
    small = (
        f"The margin is small (under {SMALL_MARGIN} log-odds): a small change to the input or the model could flip it."
        if d.margin < SMALL_MARGIN
        else None
    )
    rows = [
        (
            label,
            f"{d.probabilities[label]:.4f}",
            share_text(mass.raw[label]),
            f"{d.label_logprobs[label]:.4f}",
            token_text(d.label_token_ids.get(label, []), tokens),
        )
        for label in d.labels
    ]
    held = (
        f"The labels together hold {mass.text} of the model's probability at the start of the answer (the sum of "
        f"their raw probabilities; minimum {mass.minimum:g}{'' if mass.stated_minimum else ', the default'})."
    )
    return DecisionOutcome(
        chosen=d.chosen,
        headline=headline,
        adverse=d.adverse,
        outcome=outcome,
        stated=stated,
        agrees=d.agrees,
        mode=mode,
        margin=f"{d.margin:.2f} log-odds of {d.chosen} over the runner-up {d.runner_up}",
        small_margin=small,
        rows=rows,
        mass=held,
        below_mass=mass.below,
        unexplainable_flag=frame.unexplainable,
    )


def _value(record: GenerationRecord, name: str, granularity: str) -> str | None:
    if granularity != "field":
        return None
    value: Any = (record.variables or {}).get(name)
    return None if value is None else str(value)


def _unit(granularity: str) -> tuple[str, str]:
    return ("field", "fields") if granularity == "field" else ("message", "messages")


def decision_why(
    record: GenerationRecord,
    result: AttributionResult | None,
    tokens: AttributionResult | None = None,
    counterfactuals: Sequence[CounterfactualResult] = (),
    fairness_flips: Sequence = (),
) -> DecisionWhy | None:
    """Section 3 of a record with a decision; ``result``: its field (or segment) decision explanation;
    ``counterfactuals`` and ``fairness_flips``: the record's stored runs, which the reasons gate compares with."""
    d = record.decision
    if d is None:
        return None
    rid = record.id
    adverse = d.adverse
    frame = frame_of(record)
    due = frame.notice or "statement of reasons"
    title = frame.reasons_title if adverse else f"No {due} is required"
    why = DecisionWhy(title=title, adverse=adverse, intro="", frame=frame)
    why.tokens, why.tokens_caption, why.tokens_missing = _tokens(record, tokens)
    if result is None:
        command = f"llm-audit explain {rid} --granularity field" if record.template else f"llm-audit explain {rid}"
        if adverse:
            command += f" --contrast {d.favourable}"
        why.intro = (
            f"The decision is {d.chosen}, adverse to the {frame.subject} (the favourable outcome is {d.favourable})."
            if adverse
            else f"The decision, {d.chosen}, is the favourable outcome, so no {due} is due."
        )
        what = "fields" if record.template else "prompt segments"
        why.missing = (
            f"No {what[:-1]}-level explanation of the decision has been computed, so its principal reasons cannot be "
            f"stated. Run: {command}"
            if record.template or record.prompt_kind == "messages"
            else f"This record has no template fields or chat segments, so its decision's reasons cannot be stated as "
            f"fields; the token view below shows what moved it. Run: llm-audit explain {rid}"
        )
        return why
    target = result.target
    chosen, contrast, score = target.label, target.contrast, float(target.score or 0.0)
    unit, units = _unit(result.granularity)
    why.basis = units
    how = METHOD_WORDS.get(result.method, "each figure is the {unit}'s attribution to the log-odds of {a} over {b}")
    how = how.format(a=chosen, b=contrast, unit=unit, units=units)
    values = np.nan_to_num(np.asarray(result.seq_attr, dtype=np.float64))
    largest = float(np.abs(values).max()) if values.size else 0.0
    why.completeness = completeness_of(result, f"log-odds of {chosen} over {contrast}")
    why.table = [
        (
            field_words(name),
            _value(record, name, result.granularity) or "",
            fmt(float(v)),
            f"toward {chosen}" if v > 0 else f"toward {contrast}" if v < 0 else "none",
        )
        for name, v in zip(result.features, values)
    ]
    mismatch = (result.extra or {}).get("model_mismatch")
    computed = f"Computed by {result.method} on the recorded model: {how}."
    if mismatch:
        why.title = "Computed on another model: not evidence about the recorded decision"
        computed = (
            f"Computed by {result.method} on ANOTHER model than the recorded one ({mismatch}; stored with "
            f"--allow-model-mismatch), so its figures say nothing about the recorded decision: {how}."
        )
    if adverse and contrast != d.favourable:
        why.title = f"Why {chosen} rather than {contrast}"
        why.intro = (
            f"The decision is {chosen}, adverse to the {frame.subject} (the favourable outcome is {d.favourable}). "
            f"{computed}"
        )
        why.contrast_note = (
            f"This explanation contrasts {chosen} with {contrast}, not with the favourable outcome {d.favourable}, so its "
            f"figures are not the principal reasons for the adverse outcome. Run: llm-audit explain {rid} "
            f"--granularity {result.granularity} --contrast {d.favourable}"
        )
        return why
    if adverse:
        gate = reasons_gate(record, result, counterfactuals, fairness_flips)
        verdict = {True: "pass", False: "fail", None: "n/a"}
        why.gate = [(c.name, verdict[c.passed], c.sentence) for c in gate.checks]
        if not gate.passed:
            why.title = why.title if mismatch else "No faithful reasons can be given for the adverse outcome"
            why.unexplainable = gate.why_not
            offered = f", and no {frame.notice} wording is offered" if frame.notice else ""
            why.intro = (
                f"The decision, {chosen}, is adverse to the {frame.subject} (the favourable outcome is {d.favourable}). "
                f"{computed} Its figures fail the checks below, so none of them is stated as a principal reason"
                f"{offered}: this decision cannot be explained from this evidence."
            )
            return why
        why.intro = (
            f"The decision, {chosen}, is adverse to the {frame.subject} (the favourable outcome is {d.favourable}). "
            f"These are the {units} that moved the decision most toward {chosen} rather than {contrast}, strongest "
            f"first (at most four){', as the ' + frame.notice + ' states them' if frame.notice else ''}; the "
            f"explanation passes every check below. {computed}"
        )
    else:
        why.intro = (
            f"The decision, {chosen}, is the favourable outcome, so no {due} is due. The {units} below "
            f"weighed toward {chosen} rather than {contrast} (positive) or toward {contrast} (negative). {computed}"
        )
    for rank, j in enumerate(toward_decision(values), 1):
        name = result.features[j]
        words = field_words(name)
        value = _value(record, name, result.granularity)
        label = f"{words[:1].upper()}{words[1:]}" + (f" ({value})" if value is not None else "")
        notice = d.reasons.get(name) if result.granularity == "field" else None
        sentence = f"{label} weighed toward {chosen} rather than {contrast}: " + (
            f"{values[j]:.2f} of the {score:.2f} log-odds of {chosen} over {contrast}."
            if values[j] <= score
            else f"{values[j]:.2f} log-odds, more than the whole {score:.2f} log-odds of {chosen} over {contrast} "
            "(see Completeness)."
        )
        why.reasons.append(
            DecisionReason(
                rank,
                name,
                words,
                value,
                float(values[j]),
                abs(values[j]) / largest if largest else 0.0,
                sentence,
                notice,
                name in d.protected,
            )
        )
    if adverse:
        for reason in why.reasons:
            if reason.protected:
                why.prohibited.append(reason.name)
            elif reason.notice is None:
                why.unmapped.append(reason.name)
            elif reason.notice not in why.notice:
                why.notice.append(reason.notice)
        if not why.reasons:
            why.none_found = (
                f"No {unit} moved the decision toward {chosen} by a material amount (2 % of the total attribution), so no "
                "principal reason can be stated from this explanation: read the table below and the completeness note."
            )
    return why


def mark_unexplainable(decision, why):
    """Section 2's box says what section 3 found: the decision cannot be explained for an adverse-action notice."""
    outcome = getattr(decision, "outcome", None)
    reasons = getattr(why, "decision", None)
    if outcome is not None and reasons is not None and reasons.unexplainable:
        notice = reasons.frame.notice if reasons.frame is not None else ""
        outcome.unexplainable = (
            "No faithful principal reasons can be given from the stored evidence (section 3 says why)"
            + (
                f"; do not send {'an' if notice[0] in 'aeiou' else 'a'} {notice} worded from these figures."
                if notice
                else "."
            )
        )
    return decision


def _tokens(record: GenerationRecord, result: AttributionResult | None) -> tuple[TokenHeatmap | None, str, str | None]:
    if result is None:
        return (
            None,
            "",
            f"No token-level explanation of the decision has been computed. Run: llm-audit explain {record.id} --granularity token",
        )
    target = result.target
    heat = token_heatmap(list(result.features), [], np.zeros((0, len(result.features))), np.asarray(result.seq_attr))
    caption = (
        f"Each prompt token coloured by its attribution to the log-odds of {target.label} over {target.contrast} "
        f"({result.method}); red: toward {target.label}, blue: toward {target.contrast}."
    )
    return heat, caption, None
