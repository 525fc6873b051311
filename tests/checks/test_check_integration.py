"""Faithfulness of a real explanation on the default model (SmolLM2), credit example, 8 output tokens.

ERASER's setup: token features (the system and user message contents, never the chat
markup), removal bins of 1/5/10/20/50% of them, a removed token replaced by the explainer's
own baseline token, and random removal orders as the reference. Measured with 8 random
orders: feature ablation 30.64 nats vs random 16.68 (sd 5.53 across single orders). The mean
of the 4 orders used here has a standard error of about 2.8 nats, so the 5-nat margin leaves
the measured gap of 14 nats more than 3 standard errors of room (the orders are seeded: the
test is deterministic; the margin is what makes it robust to a reseed or a kernel change).
Comprehensiveness only (``sufficiency=False``) halves the prompts scored: about 50 s in all.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from audit import Auditor
from audit.checks.faithfulness import measure
from audit.checks.suite import load_suite

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.integration
def test_token_comprehensiveness_beats_random_removal_on_credit(default_loaded, tmp_path: Path) -> None:
    case = load_suite(REPO / "examples" / "ci" / "suite.toml").cases[0]
    assert case.name == "consumer-credit-decision"
    auditor = Auditor(db=tmp_path / "a.db", model=default_loaded)
    kwargs = case.generate_kwargs()
    kwargs.pop("decision")  # the text as the model writes it freely: what this gate has always measured
    record = auditor.generate(**kwargs)
    result = auditor.explain(record.id, method="feature-ablation", granularity="token", target="output")
    markup = {"<|im_start|>", "<|im_end|>", "system", "user", "assistant"}
    assert len(result.features) == 117 and not markup & {f.strip() for f in result.features[:3]}
    f = measure(default_loaded.model, default_loaded.tokenizer, record, result, random_orders=4, sufficiency=False)
    assert f.ks == [2, 6, 12, 24, 59]  # ceil(1%, 5%, 10%, 20%, 50% of 117)
    assert f.comprehensiveness == pytest.approx(38.06, abs=0.05)
    assert f.comprehensiveness > f.random_comprehensiveness + 5.0
