"""The deletion check of a decision explanation: remove the stated reasons together, see what moves.

An explanation claims its principal reasons (:func:`audit.decision.reasons.toward_decision`) moved the
decision by the sum of their attributions. This measures it: the same scorer scores the prompt with
exactly those features at their baseline (an absent field, the baseline token) and the fall in the
score (log p(chosen) - log p(contrast)) is what removing them did. The reasons gate
(:mod:`audit.report.reasons_gate`) compares the two; a feature-ablation figure measures each reason
alone, so where the reasons interact the observed fall can be far from the claimed one, and that is
exactly what a reader of a notice must not be told otherwise.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..decision.reasons import toward_decision
from .base import Context


def deletion_check(ctx: Context, seq_attr: Any) -> dict[str, Any] | None:
    """``{"features", "claimed", "observed", "score", "removed_score"}`` for a decision target (None otherwise).

    ``claimed``: the sum of the stated reasons' attributions; ``observed``: the score with every feature
    present minus the score with the reasons at their baseline (one more evaluation of the scorer)."""
    if ctx.target.kind != "decision":
        return None
    values = np.nan_to_num(np.asarray(seq_attr, dtype=np.float64).reshape(-1))
    reasons = toward_decision(values)
    labels = list(ctx.features.labels)
    if not reasons:
        return {"features": [], "claimed": 0.0, "observed": 0.0, "score": None, "removed_score": None}
    scorer = ctx.target.scorer(ctx.model, ctx.features.input_ids, ctx.pad_id)
    present = torch.ones(1, len(labels))
    present[0, reasons] = 0
    removed = float(scorer.score(ctx.features.perturbed_ids(present))[0].sum())
    full = float(scorer.unperturbed.sum())
    return {
        "features": [labels[j] for j in reasons],
        "claimed": float(values[reasons].sum()),
        "observed": full - removed,
        "score": full,
        "removed_score": removed,
    }
