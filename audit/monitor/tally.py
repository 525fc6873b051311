"""One group's figures in one window: a use case, or one segment of it, reduced to counts.

Everything is kept as counts (labels, histogram bins over fixed edges, verdicts, sign-offs), so a
window's figures can be saved as a baseline and tested against any later window. **Label mass** is
the model's probability, at the start of the answer, of writing one of the labels' token sequences:
``sum(exp(label_logprobs))`` over the labels, from the recorded log-probabilities (teacher-forced,
raw log-softmax); the rest of the probability went to answers that are none of the labels.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from ..store.monitoring import DecidedRow
from .stats import MARGIN_EDGES, MASS_EDGES, bin_counts

MAX_IDS = 200  # record ids kept per group (newest first): what a chart's point and an alert link to


@dataclass
class Context:
    """What a window's records have beside their decision, keyed by record id."""

    replays: dict[str, str] = field(default_factory=dict)  # latest replay verdict
    sign_offs: dict[str, str] = field(default_factory=dict)  # effective sign-off action
    reasons: dict[str, str] = field(default_factory=dict)  # principal reason (field) of an explained adverse decision


@dataclass
class GroupStats:
    use_case: str
    segment: str  # "all" or the segment's condition in words
    n: int = 0
    labels: dict[str, int] = field(default_factory=dict)  # label -> records decided so
    favourable: str | None = None
    margin_hist: list[int] = field(default_factory=list)  # over stats.MARGIN_EDGES
    margin_mean: float | None = None
    margin_median: float | None = None
    mass_hist: list[int] = field(default_factory=list)  # over stats.MASS_EDGES
    mass_mean: float | None = None
    reasons: dict[str, int] = field(default_factory=dict)  # principal reason -> explained adverse decisions
    explained: int = 0
    verdicts: dict[str, int] = field(default_factory=dict)  # latest replay verdict -> records
    reviewed: int = 0
    overridden: int = 0
    flips: dict[str, dict[str, Any]] = field(default_factory=dict)  # field -> {flipped, records, run}
    record_ids: list[str] = field(default_factory=list)  # newest first, at most MAX_IDS

    def rate(self, label: str) -> float | None:
        return self.labels.get(label, 0) / self.n if self.n else None

    @property
    def replayed(self) -> int:
        return sum(self.verdicts.values())

    @property
    def diverged(self) -> int:
        return self.replayed - self.verdicts.get("identical", 0)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GroupStats:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def label_mass(logprobs: dict[str, float]) -> float:
    """The probability of the labels' token sequences at the start of the answer, summed over the labels."""
    return float(sum(math.exp(v) for v in logprobs.values()))


def tally(
    use_case: str, segment: str, rows: Iterable[DecidedRow], context: Context, flips: dict[str, Any] | None = None
) -> GroupStats:
    """One group's counts; ``flips``: use case (or ``*``: a run over every use case) -> field -> the window's
    latest fairness run's {flipped, records, run}, shown on the use case's whole group only."""
    stats = GroupStats(use_case, segment)
    margins: list[float] = []
    masses: list[float] = []
    labels: Counter[str] = Counter()
    favourable: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    verdicts: Counter[str] = Counter()
    ids: list[str] = []
    for row in rows:
        d = row.decision
        for label in d.labels:
            labels.setdefault(label, 0)
        labels[d.chosen] += 1
        favourable[d.favourable] += 1
        margins.append(d.margin)
        masses.append(label_mass(d.label_logprobs))
        ids.append(row.record_id)
        if row.record_id in context.reasons:
            stats.explained += 1
            reasons[context.reasons[row.record_id]] += 1
        if row.record_id in context.replays:
            verdicts[context.replays[row.record_id]] += 1
        action = context.sign_offs.get(row.record_id)
        if action is not None:
            stats.reviewed += 1
            stats.overridden += action == "override"
    stats.n = len(margins)
    stats.labels = dict(labels)
    stats.favourable = favourable.most_common(1)[0][0] if favourable else None
    stats.margin_hist = bin_counts(margins, MARGIN_EDGES)
    stats.mass_hist = bin_counts(masses, MASS_EDGES)
    if margins:
        stats.margin_mean = statistics.fmean(margins)
        stats.margin_median = statistics.median(margins)
        stats.mass_mean = statistics.fmean(masses)
    stats.reasons = dict(reasons.most_common())
    stats.verdicts = dict(verdicts)
    stats.record_ids = ids[::-1][:MAX_IDS]
    if segment == "all" and flips:
        stats.flips = {**flips.get("*", {}), **flips.get(use_case, {})}
    return stats
