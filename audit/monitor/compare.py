"""A window's figures against the reference window's, each with a stated test, and the change in words.

Rates (a label's share of decisions, the override rate among signed-off records, the share of replays
that did not reproduce, the flip rate of a protected attribute) are tested with the two-proportion
z-test; distributions (margins, label mass, the mix of principal reasons) with the PSI. A change is
*significant* when its p-value, adjusted by Holm's method for the number of tests made on the window
(every group, metric and label), is under ``alpha``, and for the PSI the PSI is also above
``psi_max`` (its p-value is that of its chi-square approximation, see :mod:`.stats`). Without the
adjustment, a window of a dozen segments and labels would show a chance "change" one run in ten at
alpha 0.01. Every change is listed with its test, its statistic, both p-values and both sample
sizes, significant or not. (An alert rule is one test decided in advance: it uses its own alpha.)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .stats import p_text, psi, psi_p_value, psi_words, two_proportions
from .tally import GroupStats

RATE_METRICS = ("decision_rate", "override_rate", "replay_divergence", "flip_rate")
DISTRIBUTION_METRICS = ("label_mass", "margin", "reason_mix")


@dataclass
class Change:
    use_case: str
    segment: str
    metric: str
    key: str | None  # the label (decision_rate) or field (flip_rate)
    current: float | None
    reference: float | None
    test: str  # "proportion" | "psi"
    statistic: float  # z, or the PSI
    p_value: float  # of the z-test, or of the PSI's chi-square approximation
    n_current: int
    n_reference: int
    significant: bool
    text: str
    p_adjusted: float | None = None  # Holm-adjusted over the window's tests (None: a single test, unadjusted)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def rate_counts(stats: GroupStats, metric: str, key: str | None) -> tuple[int, int] | None:
    """(successes, trials) of a rate metric in one group, or None when it has no trials."""
    if metric == "decision_rate":
        pair = (stats.labels.get(key or "", 0), stats.n)
    elif metric == "override_rate":
        pair = (stats.overridden, stats.reviewed)
    elif metric == "replay_divergence":
        pair = (stats.diverged, stats.replayed)
    elif metric == "flip_rate":
        run = stats.flips.get(key or "")
        pair = (int(run["flipped"]), int(run["records"])) if run else (0, 0)
    else:
        raise ValueError(metric)
    return pair if pair[1] > 0 else None


def distribution(stats: GroupStats, metric: str, keys: list[str] | None = None) -> list[float]:
    if metric == "margin":
        return list(stats.margin_hist)
    if metric == "label_mass":
        return list(stats.mass_hist)
    if metric == "decision_rate":
        return [stats.labels.get(k, 0) for k in keys or []]
    if metric == "reason_mix":
        return [stats.reasons.get(k, 0) for k in keys or []]
    raise ValueError(metric)


def metric_value(stats: GroupStats, metric: str, key: str | None) -> float | None:
    """The figure a threshold rule compares: a rate, or a mean (margin, label mass)."""
    if metric == "margin":
        return stats.margin_mean
    if metric == "label_mass":
        return stats.mass_mean
    counts = rate_counts(stats, metric, key)
    return counts[0] / counts[1] if counts else None


_NAMES = {
    "override_rate": "override rate",
    "replay_divergence": "replay divergence rate",
    "margin": "margin distribution",
    "label_mass": "label mass",
    "reason_mix": "mix of principal reasons",
}


def metric_name(metric: str, key: str | None) -> str:
    if metric == "decision_rate":
        return f"{key} rate"
    if metric == "flip_rate":
        return f"flip rate under a {key} swap"
    return _NAMES[metric]


def where(stats: GroupStats) -> str:
    return stats.use_case if stats.segment == "all" else f"{stats.segment} ({stats.use_case})"


def proportion_change(
    current: GroupStats, reference: GroupStats, metric: str, key: str | None, alpha: float
) -> Change | None:
    now, then = rate_counts(current, metric, key), rate_counts(reference, metric, key)
    if now is None or then is None:
        return None
    t = two_proportions(now[0], now[1], then[0], then[1])
    moved = "rose" if t.current > t.reference else "fell" if t.current < t.reference else "stayed"
    text = (
        f"{metric_name(metric, key)} for {where(current)} {moved} from {t.reference:.0%} to {t.current:.0%} "
        f"({p_text(t.p_value)}, n {t.n_current}/{t.n_reference})"
    )
    return Change(
        current.use_case, current.segment, metric, key, t.current, t.reference, "proportion",
        t.z, t.p_value, t.n_current, t.n_reference, t.p_value < alpha, text,
    )  # fmt: skip


def psi_change(
    current: GroupStats,
    reference: GroupStats,
    metric: str,
    psi_max: float,
    alpha: float,
    keys: list[str] | None = None,
) -> Change | None:
    now, then = distribution(current, metric, keys), distribution(reference, metric, keys)
    if not sum(now) or not sum(then):
        return None
    value, p = psi(now, then), psi_p_value(now, then)
    means_of = metric in ("margin", "label_mass")
    a = metric_value(current, metric, None) if means_of else None
    b = metric_value(reference, metric, None) if means_of else None
    means = f", mean {b:.2f} then {a:.2f}" if a is not None and b is not None else ""
    text = (
        f"{metric_name(metric, None)} for {where(current)}: {psi_words(value)} "
        f"(PSI {value:.3f}, {p_text(p)}{means}, n {int(sum(now))}/{int(sum(then))})"
    )
    return Change(
        current.use_case, current.segment, metric, None, a, b, "psi", value, p,
        int(sum(now)), int(sum(then)), value > psi_max and p < alpha, text,
    )  # fmt: skip


def holm(changes: list[Change], alpha: float, psi_max: float) -> None:
    """Adjust the p-values of one window's tests by Holm's step-down method and set ``significant`` from them."""
    order = sorted(range(len(changes)), key=lambda i: changes[i].p_value)
    m, running = len(changes), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * changes[i].p_value))
        c = changes[i]
        c.p_adjusted = running
        c.significant = running < alpha and (c.test != "psi" or c.statistic > psi_max)


def compare(current: GroupStats, reference: GroupStats, alpha: float, psi_max: float) -> list[Change]:
    """Every figure of ``current`` that the reference also has, tested."""
    found: list[Change | None] = []
    labels = sorted(set(current.labels) | set(reference.labels))
    if len(labels) == 2 and current.favourable in labels:
        labels = [current.favourable]  # of two labels, the other's rate is the complement: the same test
    for label in labels:
        found.append(proportion_change(current, reference, "decision_rate", label, alpha))
    found.append(psi_change(current, reference, "margin", psi_max, alpha))
    found.append(psi_change(current, reference, "label_mass", psi_max, alpha))
    reasons = sorted(set(current.reasons) | set(reference.reasons))
    if reasons:
        found.append(psi_change(current, reference, "reason_mix", psi_max, alpha, reasons))
    found.append(proportion_change(current, reference, "override_rate", None, alpha))
    found.append(proportion_change(current, reference, "replay_divergence", None, alpha))
    for name in sorted(set(current.flips) & set(reference.flips)):
        if current.flips[name].get("run") != reference.flips[name].get("run"):
            found.append(proportion_change(current, reference, "flip_rate", name, alpha))
    return [c for c in found if c is not None]
