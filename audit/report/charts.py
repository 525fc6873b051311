"""Histograms as SVG geometry (bars, ticks), computed here and drawn by the summary template."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class Bar:
    x: float
    y: float
    w: float
    h: float
    title: str


@dataclass
class Tick:
    pos: float
    text: str


@dataclass
class BarChart:
    width: float
    height: float
    plot_left: float
    plot_bottom: float
    plot_right: float
    plot_top: float
    bars: list[Bar]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    x_title: str
    y_title: str
    empty: bool


def _bins(values: np.ndarray, max_bins: int, integer: bool) -> np.ndarray:
    lo, hi = float(values.min()), float(values.max())
    if integer:
        width = max(1, math.ceil((hi - lo + 1) / max_bins))
        return np.arange(lo, hi + width + 1, width) - 0.5
    if hi - lo < 1e-9:
        return np.array([lo - 0.5, hi + 0.5])
    return np.linspace(lo, hi, max_bins + 1)


def histogram(
    values: list[float],
    x_title: str,
    *,
    integer: bool = False,
    max_bins: int = 20,
    width: float = 320,
    height: float = 190,
) -> BarChart:
    finite = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    left, right, top, bottom = 40.0, width - 18.0, 10.0, height - 34.0
    if finite.size == 0:
        return BarChart(width, height, left, bottom, right, top, [], [], [], x_title, "records", True)
    edges = _bins(finite, max_bins, integer)
    counts, edges = np.histogram(finite, bins=edges)
    peak = max(int(counts.max()), 1)
    span = (right - left) / len(counts)
    bars = []
    for k, c in enumerate(counts):
        h = (bottom - top) * int(c) / peak
        lo, hi = edges[k], edges[k + 1]
        label = f"{math.ceil(lo)}–{math.floor(hi)}" if integer else f"{lo:.2f} to {hi:.2f}"
        bars.append(
            Bar(
                round(left + k * span + 0.5, 2),
                round(bottom - h, 2),
                round(max(span - 1, 0.5), 2),
                round(h, 2),
                f"{label}: {int(c)} record(s)",
            )
        )
    step = max(1, math.ceil(len(counts) / 6))
    x_ticks = []
    for k in range(0, len(edges), step):
        text = f"{edges[k] + 0.5:g}" if integer else f"{edges[k]:.2f}"
        x_ticks.append(Tick(round(left + k * span, 2), text))
    y_step = max(1, math.ceil(peak / 4))
    y_ticks = [Tick(round(bottom - (bottom - top) * v / peak, 2), str(v)) for v in range(0, peak + 1, y_step)]
    return BarChart(width, height, left, bottom, right, top, bars, x_ticks, y_ticks, x_title, "records", False)
