"""Which features are a decision's principal reasons: the ranking the dossier, the summary and CI share.

An explanation of a decision attributes log p(chosen) - log p(contrast); a feature with a positive
attribution moved the decision toward the chosen label rather than the contrast. Regulation B
(12 CFR 1002.9(b)(2)) asks for the specific principal reasons for an adverse action and its commentary
says more than four is unlikely to help: so at most four, strongest first, and only features that carry
at least 2 % of the summed absolute attribution (below that a feature is not a *principal* reason).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..tolerances import NEGLIGIBLE_SHARE

MAX_REASONS = 4


def shares(seq_attr: Sequence[float]) -> np.ndarray:
    """Each feature's share of the summed absolute attribution (0 where nothing was attributed)."""
    values = np.nan_to_num(np.asarray(seq_attr, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    total = float(np.abs(values).sum())
    return np.abs(values) / total if total > 0 else np.zeros_like(values)


def toward_decision(seq_attr: Sequence[float], limit: int = MAX_REASONS) -> list[int]:
    """Indices of the features that moved the decision most toward the chosen label, strongest first
    (ties: the earlier feature), at most ``limit``, none below :data:`NEGLIGIBLE_SHARE`."""
    values = np.nan_to_num(np.asarray(seq_attr, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    share = shares(values)
    order = sorted(range(values.size), key=lambda j: (-values[j], j))
    return [j for j in order if values[j] > 0 and share[j] >= NEGLIGIBLE_SHARE][:limit]
