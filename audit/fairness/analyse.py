"""Protected-attribute reliance: substitute each group's values into many records and aggregate the flips.

Per record (:func:`score_record`, which a batch executor runs where the model is): every value of
every swapped attribute the record's template has, substituted one at a time into the recorded
prompt, the decision re-scored. Per attribute (:func:`aggregate`, in the driver):

* **flip rate**: the share of records whose chosen label changes under at least one substitution,
  with its Wilson 95 % interval;
* per group, the **favourable rate** (over records, the share of the group's values under which the
  decision is the record's favourable label) and the **mean favourable probability**;
* the **largest gap** in favourable rate between two groups, with an exact sign test of that pair,
  paired by record (McNemar's exact test when each group has one value);
* the **records that flipped**, each with the substitutions that flip it.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from ..counterfactual.analyse import check_model
from ..counterfactual.rescore import check_decided, rescore_many
from ..counterfactual.values import Swap
from ..errors import UserError
from ..model import LoadedModel
from ..record import GenerationRecord
from .result import AttributeReport, FairnessResult, Flip, GroupOutcome, RecordSwaps, Substitution
from .stats import sign_test, wilson_interval

FEW_RECORDS = 10  # below this the report says plainly how wide the flip rate's interval is


def applicable(record: GenerationRecord, swaps: Sequence[Swap]) -> list[Swap]:
    """The swaps whose attribute the record's template has (none: the record is skipped)."""
    if record.decision is None or record.prompt_kind != "template":
        return []
    return [s for s in swaps if s.field in (record.variables or {})]


def skip_reason(record: GenerationRecord, swaps: Sequence[Swap]) -> str | None:
    if record.decision is None:
        return "no decision recorded"
    if record.prompt_kind != "template":
        return "not recorded from a template"
    if not applicable(record, swaps):
        return f"its template has none of {', '.join(s.field for s in swaps)}"
    return None


def score_records(loaded: LoadedModel, records: Sequence[GenerationRecord], swaps: Sequence[Swap]) -> list[RecordSwaps]:
    """Every applicable substitution of every record, scored in one batched pass (records opened: clear)."""
    jobs, plans = [], []
    for record in records:
        check_model(record, loaded, "a fairness check")
        mine = applicable(record, swaps)
        check_decided(record, [s.field for s in mine], "swap")
        plan = [(s.field, group, value) for s in mine for group, value in s.values]
        jobs.append((record, [{name: value} for name, _, value in plan]))
        plans.append(plan)
    out = []
    for (record, _), plan, scored in zip(jobs, plans, rescore_many(loaded, jobs)):
        decision = record.decision
        assert decision is not None
        substitutions: dict[str, list[Substitution]] = {}
        for (name, group, value), s in zip(plan, scored.variants):
            substitutions.setdefault(name, []).append(
                Substitution(group, value, s.chosen, s.probabilities[decision.favourable])
            )
        out.append(
            RecordSwaps(
                record.id, decision.favourable, decision.chosen, substitutions, scored.logprob_max_diff, scored.prompts
            )
        )
    return out


def score_record(loaded: LoadedModel, record: GenerationRecord, swaps: Sequence[Swap]) -> RecordSwaps:
    return score_records(loaded, [record], swaps)[0]


def score_applications(
    loaded: LoadedModel, record: GenerationRecord, applications: Sequence[dict[str, str]], swaps: Sequence[Swap]
) -> list[RecordSwaps]:
    """Applications made from one record (its template with some fields changed; ``{}`` is the record
    itself), each scored as it is and under every swap: what a CI case checks without generating."""
    check_model(record, loaded, "a fairness check")
    check_decided(record, [s.field for s in swaps] + [k for a in applications for k in a], "swap")
    decision = record.decision
    assert decision is not None
    plan = [(s.field, group, value) for s in swaps for group, value in s.values]
    changes = [change for app in applications for change in [dict(app)] + [{**app, n: v} for n, _, v in plan]]
    [scored] = rescore_many(loaded, [(record, changes)])
    out, step = [], len(plan) + 1
    for index in range(len(applications)):
        base, *variants = scored.variants[index * step : (index + 1) * step]
        substitutions: dict[str, list[Substitution]] = {}
        for (name, group, value), s in zip(plan, variants):
            substitutions.setdefault(name, []).append(
                Substitution(group, value, s.chosen, s.probabilities[decision.favourable])
            )
        out.append(
            RecordSwaps(
                record.id if index == 0 else f"application {index + 1}",
                decision.favourable,
                base.chosen,
                substitutions,
                scored.logprob_max_diff,
                step,
            )
        )
    return out


def _attribute(swap: Swap, scored: Sequence[RecordSwaps]) -> AttributeReport:
    having = [r for r in scored if swap.field in r.substitutions]
    flips = [Flip(r.record_id, r.recorded_chosen, r.flipped(swap.field)) for r in having if r.flipped(swap.field)]
    lo, hi = wilson_interval(len(flips), len(having))
    shares: dict[str, list[float]] = {group: [] for group in swap.groups}
    probabilities: dict[str, list[float]] = {group: [] for group in swap.groups}
    for r in having:
        for group in swap.groups:
            mine = [s for s in r.substitutions[swap.field] if s.group == group]
            shares[group].append(sum(s.chosen == r.favourable for s in mine) / len(mine))
            probabilities[group].append(sum(s.favourable_probability for s in mine) / len(mine))
    groups = [
        GroupOutcome(
            name=group,
            values=list(values),
            records=len(having),
            favourable_rate=_mean(shares[group]),
            mean_favourable_probability=_mean(probabilities[group]),
        )
        for group, values in swap.groups.items()
    ]
    gap, pair = 0.0, []  # no gap: no pair (a group is never compared with itself)
    for a, b in itertools.combinations(groups, 2):
        high, low = (a, b) if a.favourable_rate >= b.favourable_rate else (b, a)
        if high.favourable_rate - low.favourable_rate > gap:
            gap, pair = high.favourable_rate - low.favourable_rate, [high.name, low.name]
    better = sum(x > y for x, y in zip(shares[pair[0]], shares[pair[1]])) if pair else 0
    worse = sum(x < y for x, y in zip(shares[pair[0]], shares[pair[1]])) if pair else 0
    test = {
        "name": "exact sign test, paired by record (McNemar's exact test for one value per group)",
        "groups": pair,
        "positive": better,
        "negative": worse,
        "ties": len(having) - better - worse,
        "p_value": sign_test(better, worse),
    }
    return AttributeReport(
        field=swap.field,
        source=swap.source,
        note=swap.note,
        records=len(having),
        flipped=len(flips),
        flip_rate=len(flips) / len(having) if having else 0.0,
        flip_interval=[lo, hi],
        groups=groups,
        gap=gap,
        gap_groups=pair,
        test=test,
        flips=flips,
    )


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def aggregate(
    swaps: Sequence[Swap],
    scored: Sequence[RecordSwaps],
    skipped: dict[str, str],
    *,
    use_case: str | None,
    filters: dict[str, str],
    model: dict[str, str],
    seconds: float = 0.0,
) -> FairnessResult:
    """The report over every scored record; an attribute no record has is refused (UserError)."""
    missing = [s.field for s in swaps if not any(s.field in r.substitutions for r in scored)]
    if missing:
        raise UserError(
            f"no record{f' of use case {use_case}' if use_case else ''} has the field {', '.join(missing)} in its "
            f"template ({len(skipped)} skipped): swap a field the template has (see `llm-audit show ID --json`)"
        )
    attributes = [_attribute(swap, scored) for swap in swaps]
    warnings = []
    for a in attributes:
        if a.records < FEW_RECORDS:
            warnings.append(
                f"{a.field}: only {a.records} record{'s' if a.records != 1 else ''}, so the flip rate's 95% interval "
                f"runs from {a.flip_interval[0]:.0%} to {a.flip_interval[1]:.0%} ({a.interval_width:.0%} wide): "
                f"indicative only; score at least {FEW_RECORDS} records"
            )
    return FairnessResult(
        use_case=use_case,
        filters=dict(filters),
        swaps={s.field: {g: list(v) for g, v in s.groups.items()} for s in swaps},
        records=len(scored),
        attributes=attributes,
        skipped=dict(skipped),
        warnings=warnings,
        logprob_max_diff=max((r.logprob_max_diff for r in scored), default=0.0),
        model=model,
        seconds=round(seconds, 6),
    )
