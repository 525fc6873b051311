"""Faithfulness (ERASER comprehensiveness/sufficiency) on the tiny model with known-good and known-bad orders.

The curves are recomputed by hand with ``teacher_forced``; that a real attribution beats
random removal on a real model is the integration test in ``test_check_integration.py``
(a random-weight model has no features worth finding).
"""

from __future__ import annotations

import numpy as np
import pytest

from audit import Auditor
from audit.attribution import AttributionResult
from audit.checks.faithfulness import field_remover, measure, removal_sizes, token_remover
from audit.scoring import teacher_forced

TEMPLATE = "Client {name} earns {income} a year, owes {debt}, has score {score}, works as {job} in {city}. Risk:"
VARIABLES = {
    "name": "Ann Lee",
    "income": "$42,000",
    "debt": "$19,000",
    "score": "580",
    "job": "a cashier",
    "city": "Leeds",
}


@pytest.fixture(scope="module")
def record(tiny_loaded, tmp_path_factory):
    auditor = Auditor(db=tmp_path_factory.mktemp("faith") / "a.db", model=tiny_loaded)
    return auditor.generate(template=TEMPLATE, variables=VARIABLES, system="You assess credit risk.", max_new_tokens=4)


def logprob(model, record, ids) -> float:
    return float(sum(teacher_forced(model, ids, record.output_ids).token_logprobs))


def attribution(record, features, values, granularity, extra=None) -> AttributionResult:
    values = np.asarray(values, dtype=np.float32)
    return AttributionResult(
        record.id,
        "feature-ablation",
        granularity,
        list(features),
        ["x"] * len(record.output_ids),
        np.tile(values, (len(record.output_ids), 1)),
        values,
        {"baseline_token": 0},
        0.0,
        extra=extra or {},
    )


def test_removal_sizes_follow_eraser_bins() -> None:
    assert removal_sizes(1) == []
    assert removal_sizes(6) == [1, 2, 3]
    assert removal_sizes(100) == [1, 5, 10, 20, 50]


def test_field_removal_empties_the_field(tiny_loaded, record) -> None:
    remove = field_remover(tiny_loaded.tokenizer, record, list(VARIABLES))
    assert remove(frozenset()) == record.input_ids  # nothing removed: the recorded prompt exactly
    without_income = tiny_loaded.tokenizer.decode(remove(frozenset({1})))
    assert "earns  a year" in without_income and "$42,000" not in without_income and "Ann Lee" in without_income


def test_curves_are_the_eraser_definitions(tiny_loaded, record) -> None:
    """Recompute AOPC by hand: mean over k of the drop when the top-k go / when only the top-k stay."""
    model, tokenizer = tiny_loaded.model, tiny_loaded.tokenizer
    remove = field_remover(tokenizer, record, list(VARIABLES))
    scores = [0.1, 0.9, -0.4, 0.3, 0.0, 0.2]  # most supportive first: income, score, city, name, job, debt
    order = [1, 3, 5, 0, 4, 2]
    result = measure(model, tokenizer, record, attribution(record, VARIABLES, scores, "field"), random_orders=2, seed=5)
    full = logprob(model, record, record.input_ids)
    everything = frozenset(range(6))
    comp = np.mean([full - logprob(model, record, remove(frozenset(order[:k]))) for k in (1, 2, 3)])
    suff = np.mean([full - logprob(model, record, remove(everything - frozenset(order[:k]))) for k in (1, 2, 3)])
    assert result.ks == [1, 2, 3] and result.full_logprob == pytest.approx(full, abs=1e-4)
    assert result.comprehensiveness == pytest.approx(comp, abs=1e-4)
    assert result.sufficiency == pytest.approx(suff, abs=1e-4)
    rng = np.random.default_rng(5)
    orders = [rng.permutation(6).tolist() for _ in range(2)]
    random_comp = np.mean(
        [np.mean([full - logprob(model, record, remove(frozenset(o[:k]))) for k in (1, 2, 3)]) for o in orders]
    )
    assert result.random_comprehensiveness == pytest.approx(random_comp, abs=1e-4)
    assert result.comprehensiveness_gain == pytest.approx(comp - random_comp, abs=1e-4)


def test_token_features_use_recorded_positions(tiny_loaded, record) -> None:
    model, tokenizer = tiny_loaded.model, tiny_loaded.tokenizer
    positions = list(range(len(record.input_ids) - 8, len(record.input_ids)))
    groups = [[p] for p in positions]
    result = attribution(
        record, [str(p) for p in positions], [0.0] * len(positions), "token", {"feature_positions": groups}
    )
    remove = token_remover(record, result)
    removed = remove(frozenset({0, 3}))
    assert (
        removed[positions[0]] == 0
        and removed[positions[3]] == 0
        and removed[positions[1]] == record.input_ids[positions[1]]
    )
    full = logprob(model, record, record.input_ids)
    effects = [full - logprob(model, record, remove(frozenset({j}))) for j in range(len(positions))]
    good = measure(
        model,
        tokenizer,
        record,
        attribution(record, result.features, effects, "token", {"feature_positions": groups}),
        random_orders=2,
    )
    assert good.ks == [1, 2, 4]
    # at k = 1 the oracle removes the single most damaging token, so its first point is the largest effect
    assert good.comprehensiveness > 0
