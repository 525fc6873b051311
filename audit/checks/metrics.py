"""How similar two attribution vectors are: rank, overlap, sign and magnitude.

Written in NumPy (scipy is a test dependency only) and tested against scipy on known
vectors. Each function takes the current vector first and the baseline second; all are
symmetric except :func:`relative_l2`, which is relative to the baseline.
"""

from __future__ import annotations

import numpy as np

ZERO_FRACTION = 1e-6  # values below this fraction of the largest magnitude count as zero (no sign)


def _pair(a, b) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(a, dtype=np.float64).ravel()
    y = np.asarray(b, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"attribution vectors differ in length: {x.size} vs {y.size}")
    return x, y


def rankdata(values) -> np.ndarray:
    """Average ranks (1-based), ties sharing the mean of their ranks, as scipy does."""
    x = np.asarray(values, dtype=np.float64).ravel()
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    ranks = np.empty(x.size, dtype=np.float64)
    start = 0
    while start < x.size:
        end = start
        while end + 1 < x.size and sorted_x[end + 1] == sorted_x[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2.0 + 1.0
        start = end + 1
    return ranks


def pearson(a, b) -> float:
    x, y = _pair(a, b)
    x = x - x.mean()
    y = y - y.mean()
    denominator = float(np.sqrt((x * x).sum() * (y * y).sum()))
    if denominator == 0.0:
        return float("nan")
    return float(np.clip((x * y).sum() / denominator, -1.0, 1.0))


def spearman(a, b) -> float:
    """Spearman's rho: Pearson correlation of average ranks; NaN when a vector is constant."""
    x, y = _pair(a, b)
    return pearson(rankdata(x), rankdata(y))


def kendall(a, b) -> float:
    """Kendall's tau-b (ties corrected), scipy's default; NaN when a vector is constant."""
    x, y = _pair(a, b)
    i, j = np.triu_indices(x.size, k=1)
    dx = np.sign(x[i] - x[j])
    dy = np.sign(y[i] - y[j])
    concordant_minus_discordant = float((dx * dy).sum())
    untied_x = float(np.count_nonzero(dx))
    untied_y = float(np.count_nonzero(dy))
    if untied_x == 0.0 or untied_y == 0.0:
        return float("nan")
    return float(np.clip(concordant_minus_discordant / np.sqrt(untied_x * untied_y), -1.0, 1.0))


def top_k(values, k: int) -> list[int]:
    """Indices of the ``k`` largest magnitudes; ties go to the earlier feature (deterministic)."""
    x = np.asarray(values, dtype=np.float64).ravel()
    order = sorted(range(x.size), key=lambda index: (-abs(x[index]), index))
    return order[: min(k, x.size)]


def top_k_jaccard(a, b, k: int) -> float:
    """|A ∩ B| / |A ∪ B| of the top-``k`` features by magnitude."""
    x, y = _pair(a, b)
    first, second = set(top_k(x, k)), set(top_k(y, k))
    union = first | second
    return len(first & second) / len(union) if union else 1.0


def signs(values) -> np.ndarray:
    x = np.asarray(values, dtype=np.float64).ravel()
    scale = float(np.abs(x).max()) if x.size else 0.0
    return np.where(np.abs(x) <= ZERO_FRACTION * scale, 0.0, np.sign(x))


def sign_agreement(a, b) -> float:
    """Fraction of features with the same sign, over features non-zero in either vector."""
    x, y = _pair(a, b)
    sx, sy = signs(x), signs(y)
    considered = (sx != 0) | (sy != 0)
    if not considered.any():
        return 1.0
    return float((sx[considered] == sy[considered]).mean())


def relative_l2(a, b) -> float:
    """||a - b|| / ||b||, ``b`` the baseline; 0 when both are zero, inf when only ``b`` is."""
    x, y = _pair(a, b)
    norm = float(np.linalg.norm(y))
    diff = float(np.linalg.norm(x - y))
    if norm == 0.0:
        return 0.0 if diff == 0.0 else float("inf")
    return diff / norm
