"""Colour scales as numbers: a value becomes a bucket index, a bucket a hex colour.

Heatmaps are quantised into a few buckets per direction so the HTML can colour a cell
with a short class name (``d+3``) instead of an inline colour: a 1,000-cell matrix stays
small, and every template shares one legend. Exact values remain in tooltips and tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WHITE = (255, 255, 255)
RED = (178, 24, 43)  # ColorBrewer RdBu end: raised the likelihood of the recorded answer
BLUE = (33, 102, 172)  # ColorBrewer RdBu end: lowered it
INK = (37, 52, 148)  # sequential scale for attention weights (non-negative)
LEVELS = 8  # buckets per direction


def _mix(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> str:
    r, g, bl = (round(x + (y - x) * t) for x, y in zip(a, b))
    return f"#{r:02x}{g:02x}{bl:02x}"


@dataclass(frozen=True)
class Bucket:
    name: str  # CSS class suffix, e.g. "p3", "n1", "z", "s5"
    fill: str
    dark: bool  # text on it should be white


def diverging_buckets(levels: int = LEVELS) -> list[Bucket]:
    """Blue (negative) to white to red (positive), ``levels`` steps each way."""
    out = [Bucket(f"n{k}", _mix(WHITE, BLUE, k / levels), k / levels > 0.6) for k in range(levels, 0, -1)]
    out.append(Bucket("z", "#ffffff", False))
    out += [Bucket(f"p{k}", _mix(WHITE, RED, k / levels), k / levels > 0.6) for k in range(1, levels + 1)]
    return out


def sequential_buckets(levels: int = LEVELS) -> list[Bucket]:
    """White to indigo for non-negative quantities such as attention weights."""
    return [Bucket("z", "#ffffff", False)] + [
        Bucket(f"s{k}", _mix(WHITE, INK, k / levels), k / levels > 0.6) for k in range(1, levels + 1)
    ]


def diverging_class(value: float, vmax: float, levels: int = LEVELS) -> str:
    """Bucket of ``value`` on a scale symmetric around zero with ends at +-``vmax``."""
    if not np.isfinite(value) or vmax <= 0:
        return "z"
    k = int(np.ceil(min(abs(value) / vmax, 1.0) * levels - 1e-9))
    if k == 0:
        return "z"
    return f"p{k}" if value > 0 else f"n{k}"


def sequential_class(value: float, vmax: float, levels: int = LEVELS) -> str:
    if not np.isfinite(value) or vmax <= 0 or value <= 0:
        return "z"
    k = int(np.ceil(min(value / vmax, 1.0) * levels - 1e-9))
    return f"s{k}" if k > 0 else "z"


def symmetric_max(values: np.ndarray) -> float:
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    return float(np.abs(finite).max()) if finite.size else 0.0


def fmt(value: float, digits: int = 3) -> str:
    """Signed, fixed number of significant digits: the same float always prints the same."""
    if value is None or not np.isfinite(value):
        return "n/a"
    text = f"{float(value):+.{digits}g}"
    return "0" if float(text) == 0 else text.replace("-", "\u2212")
