"""Run-to-run stability of a stochastic attribution method across seeds.

Shapley sampling, LIME and Kernel SHAP draw random perturbations: two seeds give two
different attributions of the same output. A CI gate on them is only meaningful if the
method agrees with itself, so we report the mean pairwise Spearman correlation of the
runs with a bootstrap confidence interval (resampling runs, not pairs, because pairs that
share a run are not independent).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from .metrics import spearman


@dataclass
class Stability:
    mean: float  # mean pairwise Spearman of the runs' attribution vectors
    low: float  # 95% bootstrap interval of that mean
    high: float
    runs: int
    pairs: int

    def to_dict(self) -> dict[str, float | int]:
        return {"mean": self.mean, "low": self.low, "high": self.high, "runs": self.runs, "pairs": self.pairs}


def _mean_pairwise(matrix: np.ndarray, members: Sequence[int]) -> float:
    values = [matrix[i, j] for i, j in combinations(members, 2) if i != j]
    values = [v for v in values if not np.isnan(v)]
    return float(np.mean(values)) if values else float("nan")


def stability(
    vectors: Sequence[Sequence[float]], *, resamples: int = 2000, level: float = 0.95, seed: int = 0
) -> Stability:
    """``vectors``: one attribution vector per seed (at least two)."""
    runs = len(vectors)
    if runs < 2:
        raise ValueError("stability needs at least two runs")
    matrix = np.full((runs, runs), np.nan)
    for i, j in combinations(range(runs), 2):
        matrix[i, j] = matrix[j, i] = spearman(vectors[i], vectors[j])
    mean = _mean_pairwise(matrix, range(runs))
    rng = np.random.default_rng(seed)
    estimates = []
    for _ in range(resamples):
        members = sorted(set(rng.integers(0, runs, size=runs).tolist()))
        if len(members) >= 2:  # a pair of a run with itself says nothing about stability
            estimates.append(_mean_pairwise(matrix, members))
    estimates = [e for e in estimates if not np.isnan(e)]
    if estimates:
        low, high = np.quantile(estimates, [(1 - level) / 2, 1 - (1 - level) / 2])
    else:
        low = high = mean
    return Stability(mean=mean, low=float(low), high=float(high), runs=runs, pairs=runs * (runs - 1) // 2)
