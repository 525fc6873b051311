"""The view model of the summary report over many records, built in one streaming pass.

Each record is reduced to a small row as it is read, so a thousand records cost a
thousand small rows, not a thousand dossiers; the listing is capped and says so.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..tolerances import EXPLAIN_TOLERANCE
from .charts import BarChart, histogram
from .evidence import Evidence, IntegrityStatus, mean_logprob
from .oversight import Oversight
from .reasons import principal_reasons

MAX_LISTED = 2000
DOSSIER_LINK = "dossier-{id}.html"


@dataclass
class IndexRow:
    record_id: str
    href: str
    started_at: str
    use_case: str
    output_tokens: int
    mean_logprob: str
    finish_reason: str
    replay: str
    top_reason: str


@dataclass
class Flag:
    record_id: str
    href: str
    use_case: str
    started_at: str
    problem: str


@dataclass
class Summary:
    title: str
    generated_at: str
    filters: list[tuple[str, str]]
    integrity: IntegrityStatus
    total: int
    first: str
    last: str
    period_kind: str  # "day" | "month"
    periods: list[str]
    counts: list[tuple[str, list[int], int]]  # (use case, count per period, total)
    period_totals: list[int]
    length_chart: BarChart
    logprob_chart: BarChart
    coverage: list[tuple[str, int, str]]  # (what, records, share)
    verdicts: list[tuple[str, int]]
    reasons: list[tuple[str, str, int, str]]  # (field in words, direction, records, share of records with reasons)
    flags: list[Flag]
    index: list[IndexRow]
    unlisted: int
    models: list[tuple[str, str]] = field(default_factory=list)  # ("Model NAME", "N records")
    oversight: Oversight | None = None  # review statistics (sign-offs, overrides, findings)
    live: bool = False  # shown in the review workspace: links are pages, not dossier files


def replay_problem(verdict: str | None, divergence_step: int | None) -> str | None:
    """What a replay verdict other than ``identical`` says is wrong (None: nothing, or not replayed)."""
    if verdict is None or verdict == "identical":
        return None
    return f"replay {verdict}" + (f" at step {divergence_step + 1}" if divergence_step is not None else "")


def attribution_problems(logprob_max_diff: float | None, stability: object) -> list[str]:
    """The failed checks of a field attribution: its log-probability check, its stability check."""
    problems = []
    if logprob_max_diff is not None and logprob_max_diff > EXPLAIN_TOLERANCE:
        problems.append(f"attribution log-prob check off by {logprob_max_diff:.1e}")
    if isinstance(stability, dict) and stability.get("ok") is False:
        problems.append("attribution unstable" + (f" ({stability.get('detail')})" if stability.get("detail") else ""))
    return problems


def _flags(evidence: Evidence) -> list[str]:
    """A record's problems as the summary and the review queue state them (one definition for both)."""
    replay = evidence.replay
    step = replay.first_divergence.step if replay is not None and replay.first_divergence else None
    problem = replay_problem(replay.verdict if replay is not None else None, step)
    problems = [problem] if problem else []
    fa = evidence.field_attribution
    if fa is not None:
        stability = fa.extra.get("stability") if isinstance(fa.extra, dict) else None
        problems += attribution_problems(fa.logprob_max_diff, stability)
    return problems


def build_summary(
    evidence: Iterable[Evidence],
    generated_at: str,
    integrity: IntegrityStatus,
    filters: list[tuple[str, str]],
    *,
    max_listed: int = MAX_LISTED,
    link: str = DOSSIER_LINK,
    oversight: Oversight | None = None,
    live: bool = False,
) -> Summary:
    """Reduce each record to a row as it streams past; ``link`` names each record's dossier file."""
    when: list[tuple[str, str]] = []  # (day, use case)
    lengths: list[float] = []
    logprobs: list[float] = []
    reason_counts: Counter[tuple[str, str]] = Counter()
    with_reasons = 0
    coverage: Counter[str] = Counter()
    verdicts: Counter[str] = Counter()
    models: Counter[str] = Counter()
    flags: list[Flag] = []
    index: list[IndexRow] = []
    for ev in evidence:
        r = ev.record
        when.append((r.started_at[:10], r.use_case))
        lengths.append(float(r.output_tokens))
        lp = mean_logprob(r)
        logprobs.append(lp)
        models[r.model.name] += 1
        href = link.format(id=r.id)
        top = "—"
        if ev.field_attribution is not None:
            coverage["Field attribution (principal reasons)"] += 1
            reasons = principal_reasons(ev.field_attribution.features, ev.field_attribution.seq_attr)
            if reasons:
                with_reasons += 1
                top = f"{reasons[0].name} ({reasons[0].direction})"
            for reason in reasons:
                reason_counts[(reason.name, reason.direction)] += 1
        if ev.replay is not None:
            coverage["Replayed"] += 1
            verdicts[ev.replay.verdict] += 1
        for problem in _flags(ev):
            flags.append(Flag(r.id, href, r.use_case, r.started_at, problem))
        if len(index) < max_listed:
            lp_text = f"{lp:.3f}" if math.isfinite(lp) else "n/a"
            index.append(
                IndexRow(
                    r.id,
                    href,
                    r.started_at,
                    r.use_case,
                    r.output_tokens,
                    lp_text,
                    r.finish_reason,
                    ev.replay.verdict if ev.replay else "not replayed",
                    top,
                )
            )
    total = len(when)
    days = sorted({d for d, _ in when})
    monthly = len(days) > 31
    period = (lambda d: d[:7]) if monthly else (lambda d: d)
    periods = sorted({period(d) for d, _ in when})
    cells = Counter((case, period(d)) for d, case in when)
    cases = sorted({case for _, case in when})
    counts = [(case, [cells[(case, p)] for p in periods], sum(cells[(case, p)] for p in periods)) for case in cases]
    share = lambda n, of: f"{n / of:.0%}" if of else "—"  # noqa: E731
    return Summary(
        title="Summary of recorded decisions",
        generated_at=generated_at,
        filters=filters,
        integrity=integrity,
        total=total,
        first=min((i.started_at for i in index), default="—") if total == len(index) else days[0] if days else "—",
        last=max((i.started_at for i in index), default="—") if total == len(index) else days[-1] if days else "—",
        period_kind="month" if monthly else "day",
        periods=periods,
        counts=counts,
        period_totals=[sum(cells[(c, p)] for c in cases) for p in periods],
        length_chart=histogram(lengths, "output length (tokens)", integer=True),
        logprob_chart=histogram(logprobs, "mean log-probability per output token"),
        coverage=[
            (what, coverage[what], share(coverage[what], total))
            for what in ("Field attribution (principal reasons)", "Replayed")
        ],
        verdicts=sorted(verdicts.items(), key=lambda kv: (-kv[1], kv[0])),
        reasons=[
            (name, direction, n, share(n, with_reasons))
            for (name, direction), n in sorted(reason_counts.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
        ],
        flags=flags,
        index=index,
        unlisted=total - len(index),
        models=[
            (f"Model {name}", f"{n} records") for name, n in sorted(models.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
        oversight=oversight,
        live=live,
    )
