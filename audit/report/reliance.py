"""The summary's protected-attribute reliance section: the stored fairness runs that bear on its records.

Which runs: per use case of the summary, the newest run of that use case (or over all use cases)
made at or after the summary's first record, since an earlier run cannot have scored any of them.
Each is shown as it was stored: the records scored and skipped, per attribute the flip rate with
its Wilson 95 % interval, the favourable rate and mean favourable probability per group, the
largest gap with its exact paired sign test, the records that flipped (linked like the summary's
other record links), the swap lists' sources and notes, and the run's own warnings. The figures
are re-scorings of the recorded model with only the attribute changed; a swap list is
illustrative unless its note says it was validated.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..fairness.result import AttributeReport, FairnessResult
from ..tolerances import REPLAY_TOLERANCE
from .counterfactual_view import p_value, pct, swap_values
from .reasons import field_words

MAX_FLIPPED = 50  # flipped records listed per attribute; the rest are counted
MAX_GROUP_VALUES = 6  # values named per group


@dataclass
class GroupRow:
    name: str
    values: str
    favourable_rate: str
    mean_probability: str


@dataclass
class FlippedRow:
    record_id: str
    href: str | None  # None: not in this summary (a static summary has no dossier file to link to)
    recorded: str
    flipped_to: str  # "DECLINE with James Miller (male)"
    more: int  # further substitutions that flip it


@dataclass
class AttributeView:
    field: str  # in words
    values: str  # where the swap list came from and what it says about itself
    records: int
    flipped: int
    flip_rate: str
    interval: str  # "43.9% to 100.0%"
    gap: str  # "100.0 points" or "none"
    between: str  # "Emily Walsh over James Miller" or "—"
    p_value: str
    test: str  # the sign test in words
    groups: list[GroupRow]
    flips: list[FlippedRow]
    unlisted: int


@dataclass
class RunView:
    scope: str  # "use case credit-decision" | "all use cases"
    run_id: str
    created_at: str
    scored: str  # "12 records scored, 3 skipped (no decision recorded: 3)"
    filters: str
    model: str
    check: str
    check_ok: bool
    attributes: list[AttributeView]
    warnings: list[str]


@dataclass
class Reliance:
    runs: list[RunView] = field(default_factory=list)
    missing: str | None = None
    stored: int = 0  # protected-attribute runs in the database
    rule: str = ""  # which runs are shown, in words


def select_runs(runs: Iterable[FairnessResult], use_cases: set[str], first: str) -> tuple[list[FairnessResult], int]:
    """The newest run per use case among ``use_cases`` (or over all), made at or after ``first``; and how many
    runs exist. ``runs`` come in the log's order, so a later one replaces an earlier one."""
    newest: dict[str | None, FairnessResult] = {}
    stored = 0
    for run in runs:
        stored += 1
        if run.use_case is not None and run.use_case not in use_cases:
            continue
        if (run.created_at or "") < first:
            continue
        newest[run.use_case] = run
    return [newest[key] for key in sorted(newest, key=lambda k: (k is None, k or ""))], stored


def _groups(a: AttributeReport) -> list[GroupRow]:
    rows = []
    for g in a.groups:
        values = ", ".join(g.values[:MAX_GROUP_VALUES])
        if len(g.values) > MAX_GROUP_VALUES:
            values += f", … ({len(g.values)} values)"
        rows.append(GroupRow(g.name, values, pct(g.favourable_rate), f"{g.mean_favourable_probability:.3f}"))
    return rows


def _attribute(a: AttributeReport, href: Callable[[str], str | None]) -> AttributeView:
    lo, hi = a.flip_interval
    test = a.test
    high, low = (a.gap_groups + ["", ""])[:2]
    if a.gap > 0:
        sentence = (
            f"Exact sign test, paired by record, of {high} against {low}: {high} fared better in {test['positive']} "
            f"record{'s' if test['positive'] != 1 else ''}, worse in {test['negative']}, the same in {test['ties']}; "
            f"two-sided p = {p_value(test['p_value'])}."
        )
    else:
        sentence = "Every group fared the same in every record: there is no gap to test."
    flips = []
    for f in a.flips[:MAX_FLIPPED]:
        first = f.substitutions[0]
        flips.append(
            FlippedRow(
                f.record_id,
                href(f.record_id),
                f.recorded,
                f"{first.chosen} with {first.value} ({first.group})",
                len(f.substitutions) - 1,
            )
        )
    return AttributeView(
        field=field_words(a.field),
        values=swap_values(a),
        records=a.records,
        flipped=a.flipped,
        flip_rate=pct(a.flip_rate),
        interval=f"{pct(lo)} to {pct(hi)}",
        gap=f"{a.gap * 100:.1f} points" if a.gap > 0 else "none",
        between=f"{high} over {low}" if a.gap > 0 else "—",
        p_value=p_value(test["p_value"]),
        test=sentence,
        groups=_groups(a),
        flips=flips,
        unlisted=max(0, len(a.flips) - MAX_FLIPPED),
    )


def _run(run: FairnessResult, href: Callable[[str], str | None]) -> RunView:
    reasons = Counter(run.skipped.values())
    skipped = "; ".join(f"{why}: {n}" for why, n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])))
    scored = f"{run.records} record{'s' if run.records != 1 else ''} scored, {len(run.skipped)} skipped"
    filters = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(run.filters.items())) or "none"
    ok = run.logprob_max_diff <= REPLAY_TOLERANCE
    return RunView(
        scope=f"use case {run.use_case}" if run.use_case else "all use cases",
        run_id=run.id or "—",
        created_at=(run.created_at or "—")[:19].replace("T", " ") + (" UTC" if run.created_at else ""),
        scored=scored + (f" ({skipped})" if skipped else ""),
        filters=filters,
        model=f"{run.model.get('name', '?')} (the records' own model), in {run.seconds:.1f} s",
        check=(
            f"Each record's recorded prompt, re-scored, reproduced its decision's label log-probabilities within "
            f"{run.logprob_max_diff:.1e} (tolerance {REPLAY_TOLERANCE:g})."
            if ok
            else f"The recorded prompts re-scored differ from the recorded label log-probabilities by up to "
            f"{run.logprob_max_diff:.1e}, beyond the tolerance {REPLAY_TOLERANCE:g}."
        ),
        check_ok=ok,
        attributes=[_attribute(a, href) for a in run.attributes],
        warnings=list(run.warnings),
    )


def build_reliance(
    runs: Iterable[FairnessResult],
    use_cases: set[str],
    first: str,
    href: Callable[[str], str | None],
    protected: dict[str, list[str]],
) -> Reliance:
    """The section: ``href`` gives a record's link (None: not linked); ``protected``: per use case, its protected fields
    (for the command shown when nothing was run)."""
    chosen, stored = select_runs(runs, use_cases, first)
    rule = (
        "Per use case of this summary, the newest protected-attribute run of that use case (or over all use cases) "
        f"made at or after the summary's first record ({first[:19].replace('T', ' ')})."
    )
    if chosen:
        return Reliance([_run(run, href) for run in chosen], None, stored, rule)
    case = sorted(use_cases)[0] if use_cases else "USE_CASE"
    swaps = " ".join(f"--swap {name}=VALUES" for name in protected.get(case, [])) or "--swap FIELD=VALUES"
    command = f"llm-audit fairness --use-case {case} {swaps}"
    if stored:
        missing = (
            f"{stored} protected-attribute run{'s are' if stored != 1 else ' is'} stored, but none covers the use cases "
            f"of this summary and was made at or after its first record, so none was run on these records. Run: {command}"
        )
    else:
        missing = f"No protected-attribute check has been run on this database. Run: {command}"
    return Reliance([], missing, stored, rule)
