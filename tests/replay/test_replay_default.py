"""Replay on the embedded default model (SmolLM2-135M): greedy and sampled, a few tokens each."""

from __future__ import annotations

import pytest

from audit import Auditor

pytestmark = pytest.mark.integration

SYSTEM = "You are a credit analyst. Answer APPROVE or DECLINE first."
TEMPLATE = "Income {income}, credit score {score}. Approve the loan?"


def test_default_model_greedy_and_sampled_replay_identical(default_loaded, db_path):
    auditor = Auditor(db=db_path, model=default_loaded)
    greedy = auditor.generate(
        system=SYSTEM, template=TEMPLATE, variables={"income": "$42,000", "score": "580"}, max_new_tokens=4
    )
    sampled = auditor.generate(
        prompt="The bank's credit policy says", max_new_tokens=4, do_sample=True, temperature=0.8, top_p=0.9, seed=11
    )
    for record in (greedy, sampled):
        result = auditor.replay(record.id)
        assert result.verdict == "identical", result.to_json_dict()
        assert result.replayed_output_ids == record.output_ids
        assert result.max_logprob_diff == 0.0
        assert result.model_match["weights_sha256"] == {
            "recorded": record.model.weights_sha256,
            "current": record.model.weights_sha256,
            "match": True,
            "decides": True,
        }
