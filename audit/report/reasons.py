"""Influence on the text: the template fields ranked by attribution to the recorded text, in plain words.

This is what a record *without a decision* can say: which fields changed the likelihood of the
words the model wrote, filler included. It is not a reason for a decision (a decision's principal
reasons come from an explanation of the decision itself: :mod:`audit.report.decision_view`), so
it is worded as influence on the text. At most four, strongest first, each with its direction and
size; attribution here is the change in the log-probability of the recorded text that the method
credits to the field: positive means the field made this text more likely, negative less likely.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..tolerances import MODERATE_SHARE, NEGLIGIBLE_SHARE, STRONG_SHARE
from .colors import fmt

MAX_REASONS = 4


@dataclass
class Influence:
    rank: int
    field: str  # as recorded (e.g. "credit_score")
    name: str  # in words (e.g. "credit score")
    value: float
    value_text: str  # signed, e.g. "−2.31"
    share: float  # of the summed absolute attribution, 0..1
    share_text: str  # e.g. "41 %"
    direction: str  # "raised" | "lowered"
    sentence: str


def field_words(name: str) -> str:
    """``credit_score`` -> ``credit score``; a report reader never sees identifiers."""
    return " ".join(name.replace("_", " ").replace("-", " ").split())


def _strength(share: float) -> str:
    if share >= STRONG_SHARE:
        return "strongly"
    if share >= MODERATE_SHARE:
        return "moderately"
    return "slightly"


def text_influences(features: list[str], seq_attr: np.ndarray, limit: int = MAX_REASONS) -> list[Influence]:
    """Rank fields by absolute attribution; ties break by field order so the list is stable."""
    values = np.asarray(seq_attr, dtype=np.float64)
    finite = np.where(np.isfinite(values), values, 0.0)
    total = float(np.abs(finite).sum())
    if total <= 0:
        return []
    order = sorted(range(len(features)), key=lambda j: (-abs(finite[j]), j))
    reasons: list[Influence] = []
    for j in order:
        share = abs(finite[j]) / total
        if share < NEGLIGIBLE_SHARE or len(reasons) == limit:
            break
        rank = len(reasons) + 1
        direction = "raised" if finite[j] > 0 else "lowered"
        name = field_words(features[j])
        most = " most" if rank == 1 else ""
        sentence = f"{name[:1].upper()}{name[1:]} {direction} the likelihood of the recorded text{most} ({_strength(share)}: {fmt(finite[j])} log-probability, {share:.0%} of the total effect)."
        reasons.append(
            Influence(
                rank, features[j], name, float(finite[j]), fmt(finite[j]), share, f"{share:.0%}", direction, sentence
            )
        )
    return reasons
