"""The tests monitoring states: the population stability index and the two-proportion z-test.

**PSI** (population stability index) of a current distribution against a reference one over the
same bins: sum over bins of (c - r) * ln(c / r), with c and r the shares of each bin; the symmetric
Kullback-Leibler divergence of the two. A bin empty on one side would make it infinite, so every
bin gets half a record added on both sides before the shares are taken (stated in the output).
The usual reading: under 0.1 no shift, 0.1 to 0.25 a moderate one, above 0.25 a major one. Bins empty
on both sides are left out. On small samples the PSI is large by chance alone (two samples of one
distribution give about (bins - 1) (1/n1 + 1/n2) on average), so it also gets a p-value: under no
shift, PSI / (1/n1 + 1/n2) is approximately chi-square with bins - 1 degrees of freedom (Yurdakul,
2018), and a shift is reported only when the PSI is above its threshold *and* that p-value is small.

**Two-proportion z-test** (pooled, two-sided): z = (p1 - p2) / sqrt(p (1 - p) (1/n1 + 1/n2)) with p
the pooled proportion; its p-value is that of the chi-square test of the 2 x 2 table without
continuity correction (z squared is that statistic).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

PSEUDOCOUNT = 0.5
PSI_MODERATE, PSI_MAJOR = 0.1, 0.25

# Fixed bin edges (so a saved baseline compares with any later window): the margin in log-odds of the
# chosen label over the runner-up; label mass, a probability.
MARGIN_EDGES = (0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, math.inf)
MASS_EDGES = tuple(i / 10 for i in range(10)) + (math.inf,)


def bin_counts(values: Sequence[float], edges: Sequence[float]) -> list[int]:
    """How many values fall in each [edges[i], edges[i+1]) (below the first edge: the first bin)."""
    counts = [0] * (len(edges) - 1)
    for v in values:
        i = 0
        while i < len(counts) - 1 and v >= edges[i + 1]:
            i += 1
        counts[i] += 1
    return counts


def _occupied(current: Sequence[float], reference: Sequence[float]) -> list[tuple[float, float]]:
    if len(current) != len(reference):
        raise ValueError("PSI needs the same bins on both sides")
    return [(a, b) for a, b in zip(current, reference) if a or b]


def psi(current: Sequence[float], reference: Sequence[float]) -> float:
    """PSI of two count vectors over the same bins (bins empty on both sides left out, then a half record
    added to every bin of both)."""
    pairs = _occupied(current, reference)
    c = [a + PSEUDOCOUNT for a, _ in pairs]
    r = [b + PSEUDOCOUNT for _, b in pairs]
    tc, tr = sum(c), sum(r)
    return float(sum((a / tc - b / tr) * math.log((a / tc) / (b / tr)) for a, b in zip(c, r)))


def chi2_sf(x: float, dof: int) -> float:
    """P(X >= x) for X chi-square with ``dof`` (a positive integer) degrees of freedom, in closed form."""
    if x <= 0:
        return 1.0
    half = x / 2
    if dof % 2 == 0:  # the Poisson sum
        term, total = math.exp(-half), 0.0
        for k in range(dof // 2):
            total += term
            term *= half / (k + 1)
        return min(1.0, total)
    total = math.erfc(math.sqrt(half))
    term = math.sqrt(2 * x / math.pi) * math.exp(
        -half
    )  # the odd series: term j is this times x^(j-1) / (3 5 ... (2j-1))
    for k in range(1, (dof + 1) // 2):
        total += term
        term *= x / (2 * k + 1)
    return min(1.0, total)


def psi_p_value(current: Sequence[float], reference: Sequence[float]) -> float:
    """How often two samples of one distribution give a PSI at least this large (the chi-square approximation)."""
    pairs = _occupied(current, reference)
    n1, n2 = sum(a for a, _ in pairs), sum(b for _, b in pairs)
    if len(pairs) < 2 or not n1 or not n2:
        return 1.0
    return chi2_sf(psi(current, reference) / (1 / n1 + 1 / n2), len(pairs) - 1)


@dataclass(frozen=True)
class Proportions:
    """A two-proportion z-test's figures."""

    current: float
    reference: float
    z: float
    p_value: float
    n_current: int
    n_reference: int


def two_proportions(x1: int, n1: int, x2: int, n2: int) -> Proportions:
    """``x1`` of ``n1`` (current) against ``x2`` of ``n2`` (reference); both sides need at least one record."""
    if n1 <= 0 or n2 <= 0:
        raise ValueError("a proportion test needs records on both sides")
    p1, p2 = x1 / n1, x2 / n2
    pooled = (x1 + x2) / (n1 + n2)
    variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if variance <= 0:
        return Proportions(p1, p2, 0.0, 1.0, n1, n2)  # all or none on both sides: no difference to test
    z = (p1 - p2) / math.sqrt(variance)
    return Proportions(p1, p2, z, math.erfc(abs(z) / math.sqrt(2)), n1, n2)


def psi_words(value: float) -> str:
    if value > PSI_MAJOR:
        return "a major shift"
    if value > PSI_MODERATE:
        return "a moderate shift"
    return "no shift"


def p_text(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p {p:.3f}"
