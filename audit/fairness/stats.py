"""The two statistics of a protected-attribute report, exact and dependency-free.

* The **Wilson score interval** of a proportion (Wilson 1927; Brown, Cai & DasGupta 2001
  recommend it over the normal interval for small samples and rates near 0 or 1, which is where
  a flip rate lives).
* The **exact two-sided sign test** of paired outcomes: for each record, whether group A fared
  better than group B (its favourable share higher), worse, or the same (ties dropped). Under the
  null hypothesis that the attribute makes no difference, "better" and "worse" are equally likely,
  so the count of "better" among the untied pairs is Binomial(n, 1/2). With one value per group and
  binary outcomes this is exactly McNemar's exact test on the discordant pairs.
"""

from __future__ import annotations

import math

Z95 = 1.959963984540054  # the standard normal's 97.5 % quantile


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval (95 % by default) of ``successes`` out of ``n``; (0, 1) when ``n`` is 0."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def sign_test(positive: int, negative: int) -> float:
    """Exact two-sided p-value of ``positive`` against ``negative`` untied pairs (1.0 when there are none).

    Twice the smaller tail of Binomial(n, 1/2), capped at 1 (the usual definition, as ``scipy.stats.binomtest``).
    """
    n = positive + negative
    if n == 0:
        return 1.0
    k = min(positive, negative)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)
