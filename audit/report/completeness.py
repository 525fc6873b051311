"""Whether an explanation's figures add up to the score they explain, said plainly.

Every explanation stores the sum of its attributions against the change in its score when every
feature is at its baseline (:func:`audit.attribution.base.completeness`); integrated gradients also
stores its convergence delta per output token. What a gap means depends on the method: none is
expected of Shapley sampling (every sampled order adds up exactly) or of integrated gradients in the
limit of steps, so a gap there is an approximation error; feature ablation removes one feature at a
time, so its gap is the features' joint effect; gradient x input has no such property at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..attribution.result import AttributionResult
from ..tolerances import COMPLETENESS_ABSOLUTE_GAP, COMPLETENESS_RELATIVE_GAP


@dataclass
class Completeness:
    sentence: str
    adds_up: bool
    attributed: float
    change: float
    gap: float


def _numbers(result: AttributionResult) -> tuple[float, float, float] | None:
    stored = result.completeness
    if stored is not None:
        return float(stored["attributed"]), float(stored["score_change"]), float(stored["gap"])
    if result.convergence_delta:  # integrated gradients stored before completeness was: the delta is the gap
        attributed = float(sum(float(v) for v in result.seq_attr))
        gap = float(sum(result.convergence_delta))
        return attributed, attributed - gap, gap
    return None


def completeness_of(result: AttributionResult | None, unit: str) -> Completeness | None:
    """The sentence for ``result``; ``unit``: what the score is, e.g. "log-odds" or "log-probability of the text"."""
    if result is None:
        return None
    numbers = _numbers(result)
    if numbers is None:
        return None
    attributed, change, gap = numbers
    adds_up = abs(gap) <= max(COMPLETENESS_ABSOLUTE_GAP, COMPLETENESS_RELATIVE_GAP * abs(change))
    share = f" ({abs(gap) / abs(change):.0%} of the change)" if abs(change) > 1e-12 else ""
    base = (
        f"The {result.granularity} attributions add up to {attributed:+.3f}; the {unit} changes by {change:+.3f} "
        f"when every {result.granularity} is at its baseline: a gap of {gap:+.3f}{share}."
    )
    if adds_up:
        return Completeness(base + " They add up to the score they explain.", True, attributed, change, gap)
    method = result.method
    if method == "feature-ablation":
        why = (
            " They do not add up to the score they explain: feature ablation removes one feature at a time, so the "
            "gap is the features' joint effect, which no single figure carries."
        )
    elif method == "integrated-gradients":
        steps = result.params.get("n_steps")
        why = (
            " They do NOT add up to the score they explain: the path integral was approximated too coarsely "
            f"({steps} steps). Do not rely on the figures; recompute with more steps (e.g. --n-steps {max(256, 4 * int(steps or 64))}) "
            "or use feature ablation."
        )
    elif method == "gradient-x-input":
        why = (
            " They do not add up to the score they explain: gradient x input is a local, first-order view with no "
            "completeness property."
        )
    elif method == "shapley-sampling":
        why = " They do NOT add up, which sampled Shapley values should: treat the figures as unreliable."
    else:
        why = f" They do not add up to the score they explain: {method} fits a surrogate model, not the exact effects."
    return Completeness(base + why, False, attributed, change, gap)
