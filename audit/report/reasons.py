"""Principal reasons: the template fields ranked by attribution, said in plain words.

Regulation B (12 CFR 1002.9(b)(2)) asks for the specific principal reasons behind an
adverse action, and its commentary says more than four is unlikely to help; so at most
four, strongest first, each with its direction and size. Attribution here is the change
in the log-probability of the recorded answer that the method credits to the field:
positive means the field made this answer more likely, negative less likely.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .colors import fmt

MAX_REASONS = 4
NEGLIGIBLE_SHARE = 0.02  # below 2 % of the total effect a field is not a principal reason


@dataclass
class Reason:
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
    if share >= 0.4:
        return "strongly"
    if share >= 0.15:
        return "moderately"
    return "slightly"


def principal_reasons(features: list[str], seq_attr: np.ndarray, limit: int = MAX_REASONS) -> list[Reason]:
    """Rank fields by absolute attribution; ties break by field order so the list is stable."""
    values = np.asarray(seq_attr, dtype=np.float64)
    finite = np.where(np.isfinite(values), values, 0.0)
    total = float(np.abs(finite).sum())
    if total <= 0:
        return []
    order = sorted(range(len(features)), key=lambda j: (-abs(finite[j]), j))
    reasons: list[Reason] = []
    for j in order:
        share = abs(finite[j]) / total
        if share < NEGLIGIBLE_SHARE or len(reasons) == limit:
            break
        rank = len(reasons) + 1
        direction = "raised" if finite[j] > 0 else "lowered"
        name = field_words(features[j])
        most = " most" if rank == 1 else ""
        sentence = f"{name[:1].upper()}{name[1:]} {direction} the likelihood of this answer{most} ({_strength(share)}: {fmt(finite[j])} log-probability, {share:.0%} of the total effect)."
        reasons.append(
            Reason(
                rank, features[j], name, float(finite[j]), fmt(finite[j]), share, f"{share:.0%}", direction, sentence
            )
        )
    return reasons
