"""Section 3, why (``why.html.j2``): the decision's principal reasons and what influenced the text."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..completeness import Completeness, completeness_of
from ..decision_view import DecisionWhy, decision_why
from ..evidence import Evidence
from ..heatmap import Heatmap, TokenHeatmap, matrix_heatmap, token_heatmap
from ..reasons import Influence, field_words, text_influences


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


def why_section(evidence: Evidence) -> Why:
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
