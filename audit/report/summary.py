"""The view model of the summary report over many records, built in one streaming pass.

Each record is reduced to a small row as it is read, so a thousand records cost a
thousand small rows, not a thousand dossiers; the listing is capped and says so.

Decisions and reasons are summarised per use case, never across them: a credit decision's
fields and a news summary's share nothing. Per use case: how many records were decided and
how (label counts, the favourable rate, a histogram of margins), the adverse-action reasons
(fields that moved adverse decisions toward them rather than the favourable outcome, from
explanations of the decisions) and, for records without a decision, the fields that most
influenced the text. Records whose text disagrees with the scored decision, or whose margin
is small, are listed under "records needing attention". The stored protected-attribute runs
bearing on the summary's use cases are shown by :mod:`.reliance`.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..decision.mass import label_mass, mass_problem
from ..decision.outcome import SMALL_MARGIN
from ..decision.reasons import toward_decision
from ..fairness.result import FairnessResult
from ..record import DecisionRecord
from ..tolerances import EXPLAIN_TOLERANCE
from .charts import BarChart, histogram
from .evidence import Evidence, IntegrityStatus, mean_logprob
from .oversight import Oversight
from .reasons import field_words, text_influences
from .reasons_gate import reasons_gate
from .reliance import Reliance, build_reliance

if TYPE_CHECKING:
    from .trends import Trends

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
    decision: str = "—"  # "DECLINE (0.55)" for records with a decision


@dataclass
class Flag:
    record_id: str
    href: str
    use_case: str
    started_at: str
    problem: str


@dataclass
class UseCaseView:
    """One use case's decisions and reasons (nothing here mixes use cases)."""

    use_case: str
    records: int
    decided: int
    counts: list[tuple[str, int, str]]  # (label, records, share of decided records)
    favourable_rate: str  # share of decided records whose decision is their favourable label
    favourable_labels: str
    margin_chart: BarChart | None
    small_margins: int
    disagreements: int
    reasons: list[
        tuple[str, int, str, str, bool]
    ]  # (field in words, adverse records, share of explained ones, notice reason, a protected attribute)
    adverse: int
    adverse_explained: int
    adverse_unfaithful: int  # explained, but no faithful reasons (the reasons gate failed)
    influences: list[tuple[str, str, int, str]]  # (field in words, direction, records, share of explained records)
    influence_explained: int
    low_mass: int = 0  # decisions whose labels held less than their minimum share of the model's probability


@dataclass
class _UseCaseTally:
    records: int = 0
    labels: dict[str, int] = field(default_factory=dict)
    favourable: Counter = field(default_factory=Counter)
    favourable_labels: set = field(default_factory=set)
    margins: list[float] = field(default_factory=list)
    small: int = 0
    disagree: int = 0
    low_mass: int = 0
    protected: set = field(default_factory=set)
    adverse: int = 0
    adverse_explained: int = 0
    adverse_unfaithful: int = 0  # explained, but the reasons gate failed: no principal reasons counted
    reasons: Counter = field(default_factory=Counter)
    notices: dict[str, Counter] = field(default_factory=dict)
    influences: Counter = field(default_factory=Counter)
    influence_explained: int = 0

    def add_decision(self, ev: Evidence) -> None:
        d = ev.record.decision
        for label in d.labels:
            self.labels.setdefault(label, 0)
        self.labels[d.chosen] += 1
        self.favourable[d.chosen == d.favourable] += 1
        self.favourable_labels.add(d.favourable)
        self.margins.append(d.margin)
        self.small += d.margin < SMALL_MARGIN
        self.disagree += not d.agrees
        self.low_mass += label_mass(d).below
        self.protected.update(d.protected)
        if not d.adverse:
            return
        self.adverse += 1
        result = ev.decision_attribution
        if result is None or result.target.contrast != d.favourable:
            return  # only an explanation against the favourable outcome gives adverse-action reasons
        self.adverse_explained += 1
        # The dossier's gate, on the same evidence: reasons that fail it are no principal reasons here either.
        if not reasons_gate(ev.record, result, ev.counterfactuals, ev.fairness_flips).passed:
            self.adverse_unfaithful += 1
            # A protected field weighing toward the decision is still shown, marked as a prohibited basis.
            for j in toward_decision(result.seq_attr):
                if result.features[j] in d.protected:
                    self.reasons[result.features[j]] += 1
            return
        for j in toward_decision(result.seq_attr):
            name = result.features[j]
            self.reasons[name] += 1
            notice = d.reasons.get(name)
            if notice:
                self.notices.setdefault(name, Counter())[notice] += 1

    def add_influence(self, ev: Evidence) -> None:
        fa = ev.field_attribution
        if fa is None:
            return
        found = text_influences(fa.features, fa.seq_attr)
        self.influence_explained += bool(found)
        for reason in found:
            self.influences[(reason.name, reason.direction)] += 1

    def view(self, use_case: str) -> UseCaseView:
        decided = len(self.margins)
        share = lambda n, of: f"{n / of:.0%}" if of else "—"  # noqa: E731
        reasons = [
            (
                field_words(name),
                n,
                share(n, self.adverse_explained - self.adverse_unfaithful),
                self.notices[name].most_common(1)[0][0] if name in self.notices else "—",
                name in self.protected,
            )
            for name, n in sorted(self.reasons.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
        ]
        return UseCaseView(
            use_case=use_case,
            records=self.records,
            decided=decided,
            counts=[(label, n, share(n, decided)) for label, n in self.labels.items()],
            favourable_rate=share(self.favourable[True], decided),
            favourable_labels=", ".join(sorted(self.favourable_labels)),
            margin_chart=histogram(self.margins, "margin (log-odds over the runner-up)") if decided else None,
            small_margins=self.small,
            disagreements=self.disagree,
            reasons=reasons,
            adverse=self.adverse,
            adverse_explained=self.adverse_explained,
            adverse_unfaithful=self.adverse_unfaithful,
            influences=[
                (name, direction, n, share(n, self.influence_explained))
                for (name, direction), n in sorted(self.influences.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
            ],
            influence_explained=self.influence_explained,
            low_mass=self.low_mass,
        )


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
    use_cases: list[UseCaseView]  # decisions, reasons and influences, one use case at a time
    flags: list[Flag]
    index: list[IndexRow]
    unlisted: int
    models: list[tuple[str, str]] = field(default_factory=list)  # ("Model NAME", "N records")
    oversight: Oversight | None = None  # review statistics (sign-offs, overrides, findings)
    reliance: Reliance | None = None  # protected-attribute runs bearing on these records (None: not read)
    live: bool = False  # shown in the review workspace: links are pages, not dossier files
    small_margin: float = SMALL_MARGIN  # log-odds under which a decision is listed as needing attention
    monitoring: Trends | None = None  # decisions over time (section 7; None: no decided record)


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


def disagreement_problem(chosen: str, stated: str | None, agrees: bool) -> str | None:
    """A text that does not state the scored decision (possible in ``free`` mode only)."""
    if agrees:
        return None
    return f"text {f'states {stated}' if stated else 'states no decision'}, but the scored decision is {chosen}"


def margin_problem(chosen: str, runner_up: str, margin: float) -> str | None:
    """A decision the model barely preferred: a near-tie a small change of input could flip."""
    if margin >= SMALL_MARGIN:
        return None
    return f"small decision margin: {chosen} by {margin:.2f} log-odds over {runner_up}"


def decision_problems(decision: DecisionRecord | None) -> list[str]:
    """What needs a person's eye in a scored decision: text that does not state it, a small margin."""
    if decision is None:
        return []
    mass = label_mass(decision)
    found = (
        mass_problem(decision.chosen, mass.total, mass.minimum),
        disagreement_problem(decision.chosen, decision.stated, decision.agrees),
        margin_problem(decision.chosen, decision.runner_up, decision.margin),
    )
    return [problem for problem in found if problem]


def _flags(evidence: Evidence) -> list[str]:
    """A record's problems as the summary and the review queue state them (one definition for both)."""
    replay = evidence.replay
    step = replay.first_divergence.step if replay is not None and replay.first_divergence else None
    problem = replay_problem(replay.verdict if replay is not None else None, step)
    problems = decision_problems(evidence.record.decision) + ([problem] if problem else [])
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
    fairness: Iterable[FairnessResult] | None = None,
) -> Summary:
    """Reduce each record to a row as it streams past; ``link`` names each record's dossier file.

    ``fairness``: the stored protected-attribute runs in the log's order (read after the records, so
    a lazy iterator over the store is fine); None leaves the section out with a sentence saying so.
    """
    when: list[tuple[str, str]] = []  # (day, use case)
    lengths: list[float] = []
    logprobs: list[float] = []
    tallies: dict[str, _UseCaseTally] = {}
    coverage: Counter[str] = Counter()
    verdicts: Counter[str] = Counter()
    models: Counter[str] = Counter()
    flags: list[Flag] = []
    index: list[IndexRow] = []
    hrefs: dict[str, str] = {}  # every record of the summary, for the reliance section's links
    earliest = ""
    protected: dict[str, list[str]] = {}  # use case -> protected fields its decisions name
    for ev in evidence:
        r = ev.record
        when.append((r.started_at[:10], r.use_case))
        lengths.append(float(r.output_tokens))
        lp = mean_logprob(r)
        logprobs.append(lp)
        models[r.model.name] += 1
        href = link.format(id=r.id)
        hrefs[r.id] = href
        earliest = r.started_at if not earliest or r.started_at < earliest else earliest
        top = "—"
        tally = tallies.setdefault(r.use_case, _UseCaseTally())
        tally.records += 1
        decided = "—"
        if r.decision is not None:
            coverage["Decision scored"] += 1
            known = protected.setdefault(r.use_case, [])
            known += [name for name in r.decision.protected if name not in known]
            tally.add_decision(ev)
            decided = f"{r.decision.chosen} ({r.decision.probabilities[r.decision.chosen]:.2f})"
            da = ev.decision_attribution
            if da is not None:
                coverage["Decision explained (fields)"] += 1
                toward = toward_decision(da.seq_attr)
                if toward:
                    top = f"{field_words(da.features[toward[0]])} (toward {da.target.label})"
        elif ev.field_attribution is not None:
            coverage["Field attribution of the text"] += 1
            tally.add_influence(ev)
            found = text_influences(ev.field_attribution.features, ev.field_attribution.seq_attr)
            if found:
                top = f"{found[0].name} ({found[0].direction} the text)"
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
                    decided,
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
    reliance = None
    if fairness is not None:
        # live: every record has a page; a static summary links only its own records (their dossier files)
        link_of = (lambda rid: link.format(id=rid)) if live else hrefs.get
        reliance = build_reliance(fairness, set(cases), earliest, link_of, protected)
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
            for what in ("Decision scored", "Decision explained (fields)", "Field attribution of the text", "Replayed")
        ],
        verdicts=sorted(verdicts.items(), key=lambda kv: (-kv[1], kv[0])),
        use_cases=[tallies[case].view(case) for case in sorted(tallies)],
        flags=flags,
        index=index,
        unlisted=total - len(index),
        models=[
            (f"Model {name}", f"{n} records") for name, n in sorted(models.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
        oversight=oversight,
        live=live,
        reliance=reliance,
    )
