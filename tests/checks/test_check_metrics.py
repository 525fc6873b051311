"""Similarity metrics against scipy, and the seed-stability estimate."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from audit.checks import metrics
from audit.checks.stability import stability

VECTORS = [
    ([0.5, -0.2, 0.1, 0.9, 0.0, -0.7], [0.4, -0.1, 0.3, 0.8, 0.05, -0.9]),
    ([1.0, 2.0, 2.0, 3.0, 5.0, 5.0, 1.0], [2.0, 1.0, 2.0, 3.0, 4.0, 6.0, 1.0]),  # ties in both
    ([3.0, 1.0, 2.0], [1.0, 2.0, 3.0]),
    (list(np.random.default_rng(0).normal(size=40)), list(np.random.default_rng(1).normal(size=40))),
]


@pytest.mark.parametrize("a,b", VECTORS)
def test_rank_correlations_match_scipy(a, b) -> None:
    assert metrics.spearman(a, b) == pytest.approx(stats.spearmanr(a, b).statistic, abs=1e-12)
    assert metrics.kendall(a, b) == pytest.approx(stats.kendalltau(a, b).statistic, abs=1e-12)
    assert metrics.rankdata(a).tolist() == pytest.approx(stats.rankdata(a).tolist())


def test_constant_vector_has_no_rank_correlation() -> None:
    assert math.isnan(metrics.spearman([1, 1, 1], [1, 2, 3]))
    assert math.isnan(metrics.kendall([1, 1, 1], [1, 2, 3]))


def test_top_k_jaccard_sign_agreement_relative_l2() -> None:
    a = [0.9, -0.8, 0.1, 0.05, 0.0]
    b = [0.9, 0.1, -0.8, 0.05, 0.0]
    assert metrics.top_k(a, 2) == [0, 1]
    assert metrics.top_k(b, 2) == [0, 2]
    assert metrics.top_k_jaccard(a, b, 2) == pytest.approx(1 / 3)
    assert metrics.top_k_jaccard(a, a, 2) == 1.0
    # signs: (+,+) (-,+) (+,-) (+,+); the last feature is zero in both and not counted
    assert metrics.sign_agreement(a, b) == pytest.approx(2 / 4)
    expected = np.linalg.norm(np.subtract(a, b)) / np.linalg.norm(b)
    assert metrics.relative_l2(a, b) == pytest.approx(expected)
    assert metrics.relative_l2([0, 0], [0, 0]) == 0.0
    assert metrics.relative_l2([1, 0], [0, 0]) == math.inf
    with pytest.raises(ValueError):
        metrics.spearman([1, 2], [1, 2, 3])


def test_stability_identical_runs_is_one_and_noise_lowers_it() -> None:
    base = np.arange(12, dtype=float)
    same = stability([base, base, base])
    assert (same.mean, same.low, same.high, same.runs, same.pairs) == (1.0, 1.0, 1.0, 3, 3)
    rng = np.random.default_rng(3)
    noisy = [base + rng.normal(scale=4.0, size=12) for _ in range(5)]
    result = stability(noisy)
    pairwise = [stats.spearmanr(noisy[i], noisy[j]).statistic for i in range(5) for j in range(i + 1, 5)]
    assert result.mean == pytest.approx(np.mean(pairwise))
    assert result.low <= result.mean <= result.high
    assert result.high - result.low > 0.01
    assert result.mean < 0.95
