"""The reasons gate: whether an explanation of an adverse decision may be worded as a notice's principal reasons.

A field explanation of the decision (log p(chosen) - log p(favourable)) is offered as "Principal reasons
for the adverse action", with the wording a notice would send, only where stated checks on the recorded
model hold; otherwise the dossier says, with the figures, why no faithful reasons can be given and marks
the decision unexplainable for an adverse-action notice. The checks (thresholds in
:mod:`audit.tolerances`):

* **label mass**: the labels hold at least the record's minimum share of the model's probability
  (:mod:`audit.decision.mass`); below it the decision is not one the model made;
* **recorded model**: the explanation was computed on the record's weights;
* **fields matter**: removing every field moves the log-odds toward the decision by at least
  ``REASONS_MIN_SHARE`` of them (and ``REASONS_MIN_CHANGE`` at the least);
  a decision that does not depend on the fields has no field among its reasons;
* **completeness**: the attributions add up to the score change they explain, within ``REASONS_COMPLETENESS``;
* **deletion**: removing the stated reasons together moves the log-odds by what their figures claim, within
  ``REASONS_DELETION`` (:mod:`audit.attribution.deletion`, measured when the explanation was computed);
* **counterfactuals**, where runs exist: every field whose change alone flipped the decision is among the
  reasons, and a reason claimed to carry the whole margin flips it for some value tried;
* **protected attributes**: none weighs toward the decision among the reasons, and no protected-attribute
  run flipped this record.

Every figure names its contrast ("log-odds of DECLINE over APPROVE").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..attribution.result import AttributionResult
from ..counterfactual.result import CounterfactualResult
from ..decision.mass import label_mass
from ..decision.reasons import toward_decision
from ..record import GenerationRecord
from ..tolerances import REASONS_COMPLETENESS, REASONS_DELETION, REASONS_MIN_CHANGE, REASONS_MIN_SHARE
from .reasons import field_words


@dataclass
class GateCheck:
    name: str
    passed: bool | None  # None: not applicable (nothing to compare with)
    sentence: str


@dataclass
class ReasonsGate:
    checks: list[GateCheck] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed is not False for c in self.checks)

    @property
    def failed(self) -> list[GateCheck]:
        return [c for c in self.checks if c.passed is False]

    @property
    def why_not(self) -> str:
        """The failed checks' sentences, joined: what the dossier says instead of reasons."""
        return " ".join(c.sentence for c in self.failed)


def _signed(x: float) -> str:
    return f"{x:+.3f}"


def reasons_gate(
    record: GenerationRecord,
    result: AttributionResult,
    counterfactuals: Sequence[CounterfactualResult] = (),
    fairness_flips: Sequence = (),
) -> ReasonsGate:
    """The checks of ``result`` (a decision explanation contrasted with the favourable label) on ``record``."""
    d = record.decision
    chosen, contrast = result.target.label, result.target.contrast
    odds = f"log-odds of {chosen} over {contrast}"
    values = np.nan_to_num(np.asarray(result.seq_attr, dtype=np.float64))
    reasons = [result.features[j] for j in toward_decision(values)]
    gate = ReasonsGate()
    add = gate.checks.append

    mass = label_mass(d)
    add(
        GateCheck(
            "Label mass",
            not mass.below,
            f"The labels hold {mass.text} of the model's probability (minimum {mass.minimum:g})"
            + (": the decision is not one the model made, so nothing explains it." if mass.below else "."),
        )
    )
    add(_model_check(record, result))
    complete = result.completeness
    if complete is None:
        add(GateCheck("Fields matter", False, "The explanation stored no score change, so materiality is unknown."))
        add(
            GateCheck(
                "Completeness",
                False,
                "The explanation was stored before completeness was measured: recompute it "
                f"(llm-audit explain {record.id} --granularity field --contrast {d.favourable}).",
            )
        )
    else:
        change, attributed = float(complete["score_change"]), float(complete["attributed"])
        score = float(result.target.score or 0.0)
        needed = max(REASONS_MIN_CHANGE, REASONS_MIN_SHARE * score)
        matters = change >= needed
        add(
            GateCheck(
                "Fields matter",
                matters,
                f"Removing every field moves the {odds} by {_signed(change)} (of {_signed(score)})"
                + (
                    "."
                    if matters
                    else f": the fields together do not move the decision toward {chosen} (that needs at least "
                    f"{needed:+.3f}: {REASONS_MIN_SHARE:.0%} of the log-odds, and {REASONS_MIN_CHANGE:g} at the least), "
                    "so no field is a reason for it."
                ),
            )
        )
        gap = attributed - change
        adds_up = abs(gap) <= REASONS_COMPLETENESS * abs(change) if abs(change) > 0 else abs(gap) == 0
        of = f" ({abs(gap) / abs(change):.0%} of the change)" if abs(change) > 1e-12 else ""
        add(
            GateCheck(
                "Completeness",
                adds_up,
                f"The field attributions add up to {_signed(attributed)}, against the {_signed(change)} change in the "
                f"{odds} they explain: a gap of {_signed(gap)}{of}; the reasons need a gap within "
                f"{REASONS_COMPLETENESS:.0%} of the change"
                + ("." if adds_up else ", so the figures do not account for the decision."),
            )
        )
    add(_deletion_check(record, result, odds))
    add(_counterfactual_check(result, reasons, counterfactuals, float(result.target.score or 0.0)))
    add(_protected_check(d.protected, reasons, fairness_flips, record.id))
    return gate


def _model_check(record: GenerationRecord, result: AttributionResult) -> GateCheck:
    weights = (result.extra or {}).get("weights_sha256")
    if not (result.extra or {}).get("model_mismatch") and (
        not weights or dict(weights) == dict(record.model.weights_sha256)
    ):
        return GateCheck("Recorded model", True, "Computed on the recorded model's weights.")
    return GateCheck(
        "Recorded model",
        False,
        f"The explanation was computed on another model ({(result.extra or {}).get('model', 'unnamed')}, other "
        "weights than the record's), so it says nothing about the recorded decision.",
    )


def _deletion_check(record: GenerationRecord, result: AttributionResult, odds: str) -> GateCheck:
    deletion = result.deletion
    if deletion is None:
        return GateCheck(
            "Deletion",
            False,
            "The explanation was stored before the deletion check existed: recompute it (llm-audit explain "
            f"{record.id} --granularity field --contrast {record.decision.favourable}).",
        )
    names = ", ".join(field_words(f) for f in deletion["features"])
    if not names:
        return GateCheck("Deletion", None, "No field weighs toward the decision, so there is nothing to remove.")
    claimed, observed = float(deletion["claimed"]), float(deletion["observed"])
    ok = observed > 0 and abs(observed - claimed) <= REASONS_DELETION * abs(claimed)
    return GateCheck(
        "Deletion",
        ok,
        f"Removing the stated reasons together ({names}) moves the {odds} by {_signed(observed)}; their figures "
        f"claim {_signed(claimed)}"
        + (
            f" (within {REASONS_DELETION:.0%})."
            if ok
            else f": more than {REASONS_DELETION:.0%} apart, so the figures misstate what the reasons did."
        ),
    )


def _counterfactual_check(
    result: AttributionResult, reasons: list[str], runs: Sequence[CounterfactualResult], score: float
) -> GateCheck:
    singles = [(run, i, a) for run in runs for i, a in enumerate(run.alternatives) if len(a.changes) == 1]
    if not singles:
        return GateCheck("Counterfactuals", None, "No counterfactual run of this record varied one field at a time.")
    problems = []
    flipping = {}
    for run, i, a in singles:
        name = next(iter(a.changes))
        if a.flips and name not in flipping:
            flipping[name] = run.sentence(i)
    for name, sentence in flipping.items():
        if name not in reasons:
            problems.append(f"{sentence}, yet the explanation does not name {field_words(name)} among the reasons.")
    varied = {next(iter(a.changes)) for _, _, a in singles}
    values = dict(zip(result.features, np.nan_to_num(np.asarray(result.seq_attr, dtype=np.float64))))
    for name in reasons:
        if name in varied and name not in flipping and values.get(name, 0.0) >= score > 0:
            problems.append(
                f"The explanation credits {field_words(name)} with {values[name]:.2f}, at least the whole "
                f"{score:.2f} margin, yet no value of it tried changes the decision."
            )
    if problems:
        return GateCheck(
            "Counterfactuals", False, "The counterfactuals contradict the explanation: " + " ".join(problems)
        )
    tried = ", ".join(sorted(field_words(n) for n in varied))
    return GateCheck(
        "Counterfactuals", True, f"The counterfactual runs (fields varied: {tried}) agree with the reasons."
    )


def _protected_check(protected: Sequence[str], reasons: list[str], fairness_flips: Sequence, rid: str) -> GateCheck:
    among = [field_words(n) for n in reasons if n in protected]
    flipped = sorted({field_words(a.field) for standing in fairness_flips for a, _ in standing.run.flips_of(rid)})
    problems = []
    if among:
        problems.append(f"Protected attributes weigh toward the decision among the reasons: {', '.join(among)}.")
    if flipped:
        problems.append(f"Substituting {', '.join(flipped)} alone flipped this decision in a protected-attribute run.")
    if problems:
        return GateCheck(
            "Protected attributes",
            False,
            " ".join(problems)
            + " A decision that leans on a prohibited basis cannot be explained by the other fields.",
        )
    return GateCheck("Protected attributes", True, "No protected attribute weighs toward the decision.")
