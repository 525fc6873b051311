"""Faithfulness of a real explanation on the default model (SmolLM2), credit example, 8 output tokens."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from audit import Auditor
from audit.checks.faithfulness import field_remover, measure
from audit.checks.suite import load_suite
from audit.scoring import teacher_forced

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.integration
def test_feature_ablation_beats_random_removal_on_credit(default_loaded, tmp_path: Path) -> None:
    case = load_suite(REPO / "examples" / "ci" / "suite.toml").cases[0]
    auditor = Auditor(db=tmp_path / "a.db", model=default_loaded)
    record = auditor.generate(**case.generate_kwargs())
    result = auditor.explain(record.id, method="feature-ablation", granularity="field")
    f = measure(default_loaded.model, default_loaded.tokenizer, record, result, random_orders=4)
    assert f.ks == [1, 2, 3]
    # keeping only the top-attributed fields preserves the output better than keeping random ones
    assert f.sufficiency_gain > 0
    # the first point of the comprehensiveness curve: removing the top field hurts more than a random one
    remove = field_remover(default_loaded.tokenizer, record, result.features)
    full = sum(teacher_forced(default_loaded.model, record.input_ids, record.output_ids).token_logprobs)
    drops = [full - sum(teacher_forced(default_loaded.model, remove(frozenset({j})), record.output_ids).token_logprobs)
             for j in range(len(result.features))]
    top = int(np.argmax(result.seq_attr))
    assert drops[top] > np.mean(drops) + 0.05
    assert drops == pytest.approx(result.seq_attr.tolist(), abs=1e-3)  # the explainer measured exactly these drops
