"""Section 4 of a dossier: what would have changed the decision, from stored re-scorings of it.

Two kinds of evidence, both re-scorings of the recorded prompt on the recorded model with only
some template fields changed (everything else as recorded: template, other fields, label tokens):

* the record's latest **counterfactual** run (:mod:`audit.counterfactual`): every alternative tried,
  its decision and favourable probability, and per field the first value (in the order given) that
  flips the decision, as a sentence ("DECLINE would have been APPROVE had the credit score been 680");
* the stored **protected-attribute** runs (:mod:`audit.fairness`) in which this record's decision
  flipped when only a protected attribute's value was substituted, with each run's flip rate.

What this shows is how this model responds to that change of input, not what would have happened
to the applicant, and not that the field caused the decision: the section says so in words. A swap
list (names standing for a group, say) is illustrative unless its own note says it was validated.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..counterfactual.result import CounterfactualResult
from ..fairness.result import AttributeReport, FairnessResult
from ..record import GenerationRecord
from ..tolerances import REPLAY_TOLERANCE
from .evidence import Evidence, FairnessStanding
from .frames import frame_of
from .reasons import field_words

MAX_ALTERNATIVES = 200  # rows of the alternatives table; the rest are counted
MAX_VALUES_NAMED = 20  # values named in "no value tried changes the decision (...)"


@dataclass
class AlternativeRow:
    fields: str  # "credit score" or "credit score + age"
    values: str  # "680" or "680 + 45"
    decision: str
    favourable_probability: str  # "0.412"
    flips: bool
    protected: bool  # one of the changed fields is a protected attribute


@dataclass
class SmallestChange:
    field: str  # in words
    sentence: str  # the flip as a sentence, or "no value tried changes the decision (600, 640)"
    flips: bool
    protected: bool


@dataclass
class CounterfactualView:
    run: str  # "run ID, computed DATE in S s"
    recorded: str  # "DECLINE, probability 0.999 (APPROVE 0.001)"
    adverse: bool
    favourable: str
    tried: str  # "11 alternatives tried; 3 flip the decision."
    rows: list[AlternativeRow]
    unlisted: str | None  # "40 further alternatives are not listed (12 of them flip the decision)."
    smallest: list[SmallestChange]
    pairs: str | None  # "Pairs of two fields' values: 4 of 6 flip the decision."
    check: str  # the reference check in words
    check_ok: bool
    model: str
    model_matches: bool
    subject: str = "applicant"  # the frame's word for whom the decision is about


@dataclass
class SubstitutionRow:
    value: str
    group: str
    decision: str
    favourable_probability: str


@dataclass
class RelianceFlip:
    """One attribute of one protected-attribute run that flipped this record."""

    attribute: str  # in words
    recorded: str
    favourable: str  # the record's favourable label (the probability column's)
    substitutions: list[SubstitutionRow]
    flip_rate: str  # "3 of 3 records (100.0%; 95% interval 43.9% to 100.0%)"
    values: str  # where the values came from and what their list says about itself


@dataclass
class RelianceRun:
    run: str  # "run ID of DATE, use case credit-decision, 12 records scored"
    logged: str  # "logged at seq N" or "not in the audit log"
    flips: list[RelianceFlip]


@dataclass
class RunRow:
    """One stored run of the record, in the list of every run (newest first)."""

    date: str
    run: str  # its id
    fields: str  # the fields (attributes) it varied
    found: str  # "14 alternatives tried, 0 flip the decision" / "flipped" / "scored, no flip"
    check: str  # its reference check in words
    check_ok: bool


@dataclass
class RecordReliance:
    runs: list[RelianceRun] = field(default_factory=list)  # runs in which this record flipped
    every: list[RunRow] = field(default_factory=list)  # every run that selected this record, newest first
    line: str | None = None  # one line where nothing flipped (or about the newest run, if it did not flip there)
    missing: str | None = None  # no run at all: how to run one


@dataclass
class WhatIf:
    applies: bool  # the record has a decision
    missing: str | None  # the record has no decision, or no template: why the section is empty
    counterfactual: CounterfactualView | None
    counterfactual_missing: str | None
    reliance: RecordReliance
    runs: list[RunRow] = field(default_factory=list)  # every counterfactual run of the record, newest first
    subject: str = "applicant"  # the frame's word for whom the decision is about


def pct(x: float) -> str:
    """A share as the reports print it (one decimal); float noise near 0 prints as 0.0%."""
    return f"{max(0.0, x):.1%}"


def p_value(p: float) -> str:
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


def flip_rate(a: AttributeReport) -> str:
    lo, hi = a.flip_interval
    return f"{a.flipped} of {a.records} record{'s' if a.records != 1 else ''} ({pct(a.flip_rate)}; 95% interval {pct(lo)} to {pct(hi)})"


def swap_values(a: AttributeReport) -> str:
    """Where a swap list came from and what it says about itself; a list without a note is illustrative."""
    source = a.source or "the command line"
    if a.note:
        return f"Values from {source}, whose note says: “{a.note}”."
    return f"Values from {source}; the list carries no note on how it was chosen, so treat it as illustrative."


def _named(values: list[str]) -> str:
    shown = ", ".join(values[:MAX_VALUES_NAMED])
    return shown if len(values) <= MAX_VALUES_NAMED else f"{shown}, … ({len(values)} values in all)"


def _recorded_model(record: GenerationRecord) -> str:
    return record.model.weights_text


def _check(difference: float) -> tuple[str, bool]:
    ok = difference <= REPLAY_TOLERANCE
    return (
        f"{'pass' if ok else 'FAIL'}: recorded prompt re-scored within {difference:.1e} (tolerance {REPLAY_TOLERANCE:g})",
        ok,
    )


def counterfactual_rows(results: list[CounterfactualResult]) -> list[RunRow]:
    """Every counterfactual run of a record as one row each (``results`` newest first)."""
    rows = []
    for result in results:
        flips = len(result.flips)
        check, ok = _check(result.logprob_max_diff)
        rows.append(
            RunRow(
                date=(result.created_at or "—")[:19].replace("T", " "),
                run=result.id or "—",
                fields=", ".join(field_words(name) for name in result.fields)
                + (" (and pairs)" if result.pairs else ""),
                found=f"{len(result.alternatives)} tried, {flips} flip{'s' if flips == 1 else ''} the decision",
                check=check,
                check_ok=ok,
            )
        )
    return rows


def counterfactual_view(result: CounterfactualResult, record: GenerationRecord) -> CounterfactualView:
    protected = set(record.decision.protected) if record.decision is not None else set()
    fav = result.favourable
    recorded = result.recorded_chosen
    others = ", ".join(f"{label} {p:.3f}" for label, p in result.recorded_probabilities.items() if label != recorded)
    rows = [
        AlternativeRow(
            fields=" + ".join(field_words(name) for name in a.changes),
            values=" + ".join(a.changes.values()),
            decision=a.chosen,
            favourable_probability=f"{a.probabilities[fav]:.3f}",
            flips=a.flips,
            protected=any(name in protected for name in a.changes),
        )
        for a in result.alternatives
    ]
    flips = result.flips
    unlisted = None
    if len(rows) > MAX_ALTERNATIVES:
        rest = result.alternatives[MAX_ALTERNATIVES:]
        unlisted = (
            f"{len(rest)} further alternatives are not listed ({sum(a.flips for a in rest)} of them flip the "
            f"decision): see `llm-audit counterfactual {result.record_id} --json` or the stored run."
        )
        rows = rows[:MAX_ALTERNATIVES]
    smallest = []
    for name, index in result.smallest_flip.items():
        if index is None:
            sentence = f"no value tried changes the decision ({_named(result.fields.get(name, []))})"
        else:
            sentence = result.sentence(index)
        smallest.append(SmallestChange(field_words(name), sentence, index is not None, name in protected))
    pairs = None
    if result.pairs:
        both = [a for a in result.alternatives if len(a.changes) == 2]
        pairs = f"Pairs of two fields' values: {sum(a.flips for a in both)} of {len(both)} flip the decision."
    ok = result.logprob_max_diff <= REPLAY_TOLERANCE
    check = (
        f"The recorded prompt re-scored gives the recorded label log-probabilities within {result.logprob_max_diff:.1e} "
        f"(tolerance {REPLAY_TOLERANCE:g}), so every alternative was scored by the same computation as the decision."
        if ok
        else f"The recorded prompt re-scored differs from the recorded label log-probabilities by "
        f"{result.logprob_max_diff:.1e}, beyond the tolerance {REPLAY_TOLERANCE:g}: these alternatives may not "
        "describe the recorded computation."
    )
    matches = result.model.get("weights_sha256") == _recorded_model(record)
    name = result.model.get("name", "?")
    model = (
        f"Scored on {name}, the recorded model (its weights' SHA-256 match the record's)."
        if matches
        else f"Scored on {name}, whose weights' SHA-256 do NOT match the record's: not the recorded model."
    )
    return CounterfactualView(
        run=f"run {result.id}, computed {result.created_at or '—'} in {result.seconds:.2f} s",
        recorded=f"{recorded}, probability {result.recorded_probabilities[recorded]:.3f}"
        + (f" ({others})" if others else ""),
        adverse=recorded != fav,
        favourable=fav,
        tried=f"{len(result.alternatives)} alternative{'s' if len(result.alternatives) != 1 else ''} tried; "
        f"{len(flips)} flip{'s' if len(flips) == 1 else ''} the decision.",
        rows=rows,
        unlisted=unlisted,
        smallest=smallest,
        pairs=pairs,
        check=check,
        check_ok=ok,
        model=model,
        model_matches=matches,
        subject=frame_of(record).subject,
    )


def _run_words(run: FairnessResult) -> str:
    scope = f"use case {run.use_case}" if run.use_case else "all use cases"
    period = ", ".join(f"{k} {v}" for k, v in sorted(run.filters.items()) if k in ("since", "until"))
    return (
        f"run {run.id} of {(run.created_at or '—')[:19].replace('T', ' ')} UTC ({scope}{', ' + period if period else ''}; "
        f"{run.records} record{'s' if run.records != 1 else ''} scored)"
    )


def _reliance_run(standing: FairnessStanding, record: GenerationRecord) -> RelianceRun:
    run = standing.run
    flips = []
    for attribute, flip in run.flips_of(record.id):
        flips.append(
            RelianceFlip(
                attribute=field_words(attribute.field),
                recorded=flip.recorded,
                favourable=record.decision.favourable if record.decision is not None else "favourable",
                substitutions=[
                    SubstitutionRow(s.value, s.group, s.chosen, f"{s.favourable_probability:.3f}")
                    for s in flip.substitutions
                ],
                flip_rate=flip_rate(attribute),
                values=swap_values(attribute),
            )
        )
    logged = f"logged at seq {standing.seq}" if standing.seq is not None else "not in the audit log"
    return RelianceRun(_run_words(run), logged, flips)


def record_reliance(evidence: Evidence) -> RecordReliance:
    record = evidence.record
    use_case = record.use_case
    if not evidence.fairness_runs:
        swaps = " ".join(f"--swap {name}=VALUES" for name in (record.decision.protected if record.decision else []))
        return RecordReliance(
            missing="No protected-attribute check has been run on this database. "
            f"Run: llm-audit fairness --use-case {use_case} {swaps or '--swap FIELD=VALUES'}"
        )
    runs = [_reliance_run(s, record) for s in reversed(evidence.fairness_flips)]  # newest first
    every = [_standing_row(s) for s in evidence.fairness_standings]
    latest = evidence.fairness_latest
    line = None
    if latest is not None and latest.state != "flipped":
        where = _run_words(latest.run)
        said = {
            "scored": "this record was scored and its decision did not flip under any value substituted",
            "skipped": f"this record was skipped ({latest.detail})",
            "outside": f"this record was not among the records it scored ({latest.detail})",
        }[latest.state]
        count = evidence.fairness_runs
        if runs:
            line = f"In the newest protected-attribute run, {where}, {said}."
        else:
            line = (
                f"{count} protected-attribute run{'s are' if count != 1 else ' is'} stored and in none did this "
                f"record's decision flip; in the newest, {where}, {said}."
            )
    return RecordReliance(runs=runs, line=line, every=every)


def _standing_row(standing: FairnessStanding) -> RunRow:
    run = standing.run
    words = {"flipped": "this decision flipped", "scored": "scored, no flip", "skipped": f"skipped ({standing.detail})"}
    check, ok = _check(run.logprob_max_diff)
    return RunRow(
        date=(run.created_at or "—")[:19].replace("T", " "),
        run=run.id or "—",
        fields=", ".join(field_words(name) for name in run.swaps),
        found=words.get(standing.state, standing.state),
        check=check.replace("recorded prompt", "recorded prompts"),
        check_ok=ok,
    )


def what_if(evidence: Evidence) -> WhatIf:
    record = evidence.record
    reliance = RecordReliance()
    if record.decision is None:
        return WhatIf(
            False,
            "Counterfactuals and protected-attribute checks apply to decisions: this record has no decision "
            "specified (labels and a favourable outcome), so there is no decision to flip.",
            None,
            None,
            reliance,
        )
    if record.prompt_kind != "template" or not record.template:
        return WhatIf(
            True,
            "This record was not recorded from a template, so it has no fields to change: counterfactuals and "
            "protected-attribute checks change template fields.",
            None,
            None,
            reliance,
        )
    view, missing = None, None
    if evidence.counterfactual is not None:
        view = counterfactual_view(evidence.counterfactual, record)
    else:
        fields = ", ".join(record.variables or {})
        missing = (
            "No counterfactual has been computed for this record. "
            f"Run: llm-audit counterfactual {record.id} --vary FIELD=VALUES (this template's fields: {fields})"
        )
    runs = counterfactual_rows(evidence.counterfactuals)
    return WhatIf(True, None, view, missing, record_reliance(evidence), runs, frame_of(record).subject)
