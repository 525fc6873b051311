"""The report's numbers before any HTML: reasons, colour buckets, prompt highlighting, geometry."""

from __future__ import annotations

import numpy as np
import pytest

from audit.clock import normalise_time
from audit.errors import UserError
from audit.report.charts import histogram
from audit.report.colors import diverging_class, fmt, sequential_class
from audit.report.heatmap import matrix_heatmap, pool, thumbnail, token_heatmap
from audit.report.reasons import text_influences


def test_principal_reasons_rank_by_size_with_sign_and_stop_at_four():
    features = ["income", "monthly_debt", "credit_score", "employment", "amount", "purpose"]
    reasons = text_influences(features, np.array([0.5, -1.0, -3.0, 0.25, 0.2, 0.05]))
    assert [r.field for r in reasons] == ["credit_score", "monthly_debt", "income", "employment"]
    assert [r.direction for r in reasons] == ["lowered", "lowered", "raised", "raised"]
    assert (
        reasons[0].sentence
        == "Credit score lowered the likelihood of the recorded text most (strongly: \u22123 log-probability, 60% of the total effect)."
    )
    assert (
        reasons[2].sentence
        == "Income raised the likelihood of the recorded text (slightly: +0.5 log-probability, 10% of the total effect)."
    )
    assert reasons[0].share == pytest.approx(3.0 / 5.0)


def test_principal_reasons_drop_negligible_fields_and_all_zero():
    assert [r.field for r in text_influences(["a", "b"], np.array([1.0, 0.01]))] == ["a"]
    assert text_influences(["a", "b"], np.array([0.0, 0.0])) == []
    assert [r.field for r in text_influences(["a", "b"], np.array([np.nan, 2.0]))] == ["b"]


def test_colour_buckets_are_symmetric_and_clipped():
    assert diverging_class(1.0, 1.0) == "p8" and diverging_class(-1.0, 1.0) == "n8"
    assert diverging_class(0.06, 1.0) == "p1" and diverging_class(-0.5, 1.0) == "n4"
    assert diverging_class(5.0, 1.0) == "p8" and diverging_class(0.0, 1.0) == "z"
    assert sequential_class(-1.0, 1.0) == "z" and sequential_class(0.5, 1.0) == "s4"
    assert fmt(-2.3149) == "\u22122.31" and fmt(float("nan")) == "n/a" and fmt(-0.0) == "0"


def test_matrix_heatmap_lays_out_every_cell_inside_the_drawing():
    values = np.arange(12, dtype=float).reshape(3, 4) - 5
    h = matrix_heatmap(values, ["a", "b", "c"], ["w", "x", "y", "z"])
    assert (h.rows, h.cols, len(h.cells)) == (3, 4, 12)
    assert all(c.x + c.w <= h.width and c.y + c.h <= h.height for c in h.cells)
    assert h.cells[0].cls == "n7" and h.cells[-1].cls == "p8"  # scale ends at the largest magnitude, 6
    assert h.cells[5].title == "b \u2190 x: attribution 0"


def test_token_heatmap_has_whole_answer_first_then_one_view_per_output_token():
    t = token_heatmap(
        ["A", " b"], ["x", "y", "z"], np.array([[1.0, -1.0], [0.5, 0.0], [0.0, 0.25]]), np.array([1.5, -0.75])
    )
    assert [v.key for v in t.views] == ["all", "0", "1", "2"]
    assert [cls for _, cls, _ in t.views[0].tokens] == ["p8", "n4"]
    assert [cls for _, cls, _ in t.views[2].tokens] == ["p4", "z"]


def test_thumbnail_pools_to_the_bin_limit():
    m = np.tril(np.ones((50, 50)))
    assert pool(m, 24).shape == (24, 24)
    assert thumbnail(m, "L1").size == 24
    assert pool(np.eye(3), 24).shape == (3, 3)


def test_histogram_counts_every_finite_value():
    chart = histogram([1, 2, 2, 3, 40, float("nan")], "length", integer=True)
    assert sum(int(b.title.split(": ")[1].split()[0]) for b in chart.bars) == 5
    assert histogram([], "x").empty


def test_normalise_time_accepts_dates_and_rejects_nonsense():
    assert normalise_time("2026-03-01", "--since") == "2026-03-01T00:00:00Z"
    assert normalise_time("2026-03-01T10:00:00+02:00", "x", store_format=True) == "2026-03-01T08:00:00.000000Z"
    with pytest.raises(UserError, match="not an ISO 8601"):
        normalise_time("last tuesday", "--since")
