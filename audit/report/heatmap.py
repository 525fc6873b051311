"""Heatmaps as geometry: matrices become cells with coordinates and colour buckets.

The templates only draw what is computed here (``<rect x y width height class>``), so the
layout is testable without a browser and identical on every run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .colors import diverging_class, fmt, sequential_class, symmetric_max

PAGE_WIDTH = 660  # px of drawing area on an A4 page at 96 dpi with 20 mm margins
MAX_TITLED_CELLS = 1200  # above this, cells carry no tooltip to keep the file small


def visible(token: str) -> str:
    """A token as a label: whitespace made visible, never empty."""
    text = token.replace("\n", "\u23ce").replace("\t", "\u21e5").replace(" ", "\u00b7")
    return text if text else "\u2205"


@dataclass
class Cell:
    x: float
    y: float
    w: float
    h: float
    cls: str
    title: str | None = None


@dataclass
class Label:
    x: float
    y: float
    text: str


@dataclass
class Heatmap:
    """An SVG heatmap: rows x columns of coloured cells with labels on both axes."""

    width: float
    height: float
    cells: list[Cell]
    row_labels: list[Label]
    col_labels: list[Label]
    scale: str  # "diverging" | "sequential"
    vmax: str  # the value at the scale's ends, formatted
    rows: int
    cols: int
    row_axis: str
    col_axis: str
    label_size: float = 9.0


def _label_step(count: int, cell: float, min_px: float = 9.0) -> int:
    return max(1, int(np.ceil(min_px / cell))) if cell > 0 else max(1, count)


def matrix_heatmap(
    matrix: np.ndarray,
    row_labels: list[str],
    col_labels: list[str],
    *,
    scale: str = "diverging",
    row_axis: str = "",
    col_axis: str = "",
    width: float = PAGE_WIDTH,
    max_cell: float = 22.0,
    value_name: str = "attribution",
) -> Heatmap:
    """Lay out ``matrix`` (rows x cols) to fit ``width`` with labelled axes."""
    values = np.asarray(matrix, dtype=np.float64)
    rows, cols = values.shape
    label_w = min(130.0, 6.0 * max((len(visible(t)) for t in row_labels), default=4) + 8)
    label_h = min(90.0, 5.0 * max((len(visible(t)) for t in col_labels), default=4) + 10)
    cell = max(3.0, min(max_cell, (width - label_w) / max(cols, 1)))
    cell_h = max(3.0, min(max_cell, max(cell, 10.0), 700 / max(rows, 1)))  # rows stay readable when columns are many
    vmax = symmetric_max(values) if scale == "diverging" else float(np.nanmax(values)) if values.size else 0.0
    classify = diverging_class if scale == "diverging" else sequential_class
    titled = rows * cols <= MAX_TITLED_CELLS
    cells = []
    for i in range(rows):
        for j in range(cols):
            v = float(values[i, j])
            title = (
                f"{visible(row_labels[i])} \u2190 {visible(col_labels[j])}: {value_name} {fmt(v)}" if titled else None
            )
            cells.append(
                Cell(
                    round(label_w + j * cell, 2),
                    round(label_h + i * cell_h, 2),
                    round(cell, 2),
                    round(cell_h, 2),
                    classify(v, vmax),
                    title,
                )
            )
    row_step = _label_step(rows, cell_h)
    col_step = _label_step(cols, cell)
    size = float(min(9.0, max(6.0, min(cell, cell_h) - 1)))
    rl = [
        Label(round(label_w - 4, 2), round(label_h + (i + 0.5) * cell_h + size / 3, 2), visible(row_labels[i])[:18])
        for i in range(0, rows, row_step)
    ]
    cl = [
        Label(round(label_w + (j + 0.5) * cell + size / 3, 2), round(label_h - 4, 2), visible(col_labels[j])[:14])
        for j in range(0, cols, col_step)
    ]
    return Heatmap(
        width=round(label_w + cols * cell + 4, 2),
        height=round(label_h + rows * cell_h + 4, 2),
        cells=cells,
        row_labels=rl,
        col_labels=cl,
        scale=scale,
        vmax=fmt(vmax) if scale == "diverging" else f"{vmax:.3g}",
        rows=rows,
        cols=cols,
        row_axis=row_axis,
        col_axis=col_axis,
        label_size=size,
    )


@dataclass
class Thumbnail:
    """A small square map drawn as one SVG path per colour bucket (compact for many layers)."""

    label: str
    size: int  # cells per side after pooling
    paths: list[tuple[str, str]]  # (bucket class, path data)


def pool(matrix: np.ndarray, bins: int) -> np.ndarray:
    """Mean-pool a square-ish matrix down to at most ``bins`` x ``bins``."""
    values = np.asarray(matrix, dtype=np.float64)
    rows, cols = values.shape
    r_edges = np.linspace(0, rows, min(bins, rows) + 1).astype(int)
    c_edges = np.linspace(0, cols, min(bins, cols) + 1).astype(int)
    out = np.zeros((len(r_edges) - 1, len(c_edges) - 1))
    for a in range(len(r_edges) - 1):
        for b in range(len(c_edges) - 1):
            out[a, b] = values[r_edges[a] : r_edges[a + 1], c_edges[b] : c_edges[b + 1]].mean()
    return out


def thumbnail(matrix: np.ndarray, label: str, bins: int = 24) -> Thumbnail:
    pooled = pool(matrix, bins)
    vmax = float(pooled.max()) if pooled.size else 0.0
    by_class: dict[str, list[str]] = {}
    for i in range(pooled.shape[0]):
        for j in range(pooled.shape[1]):
            cls = sequential_class(float(pooled[i, j]), vmax)
            if cls != "z":
                by_class.setdefault(cls, []).append(f"M{j} {i}h1v1h-1z")
    paths = [(cls, "".join(parts)) for cls, parts in sorted(by_class.items())]
    return Thumbnail(label=label, size=max(pooled.shape) if pooled.size else 1, paths=paths)


@dataclass
class TokenView:
    """The input text coloured by attribution towards one output token (or the whole output)."""

    key: str
    label: str
    tokens: list[tuple[str, str, str | None]]  # (text, bucket class, tooltip or None)


@dataclass
class TokenHeatmap:
    views: list[TokenView]  # views[0] is the whole output, shown by default
    vmax: str  # scale end of the whole-answer view
    token_vmax: str  # scale end shared by the per-token views
    features: int
    outputs: int
    truncated: int = 0  # output tokens without their own view (too many)
    notes: list[str] = field(default_factory=list)


def token_heatmap(
    features: list[str], output_tokens: list[str], token_attr: np.ndarray, seq_attr: np.ndarray, max_views: int = 64
) -> TokenHeatmap:
    """One whole-output view plus one view per output token, on one shared colour scale each."""
    seq = np.asarray(seq_attr, dtype=np.float64)
    mat = np.asarray(token_attr, dtype=np.float64)
    seq_max = symmetric_max(seq)
    views = [
        TokenView(
            "all",
            "Whole answer",
            [(f, diverging_class(float(v), seq_max), f"{visible(f)}: {fmt(float(v))}") for f, v in zip(features, seq)],
        )
    ]
    tok_max = symmetric_max(mat)
    shown = min(len(output_tokens), max_views)
    for i in range(shown):
        views.append(
            TokenView(
                str(i),
                f"{i + 1}: {visible(output_tokens[i])}",
                [(f, diverging_class(float(v), tok_max), None) for f, v in zip(features, mat[i])],
            )
        )
    return TokenHeatmap(
        views=views,
        vmax=fmt(seq_max),
        token_vmax=fmt(tok_max),
        features=len(features),
        outputs=len(output_tokens),
        truncated=len(output_tokens) - shown,
    )
