"""On the default model (SmolLM2-135M): field ablation and IG equal Captum's on a short credit record."""

from __future__ import annotations

import numpy as np
import pytest

from audit import Auditor
from audit.attribution.explain import explain_record
from audit.attribution.inputs import build_features
from audit.attribution.reference import captum_attribute
from audit.attribution.request import check_request

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def record(default_loaded, tmp_path_factory):
    auditor = Auditor(db=tmp_path_factory.mktemp("smol") / "a.db", model=default_loaded)
    return auditor.generate(
        system="You are a credit analyst.",
        template="Income {income}, credit score {score}. Approve?",
        variables={"income": "$42,000", "score": "580"},
        max_new_tokens=3,
    )


@pytest.mark.parametrize(
    "method, granularity, params",
    [("feature-ablation", "field", {}), ("integrated-gradients", "field", {"n_steps": 4})],
)
def test_default_model_matches_captum(default_loaded, record, method, granularity, params):
    lm = default_loaded
    ours = explain_record(lm.model, lm.tokenizer, record, method, granularity, **params)
    assert ours.logprob_max_diff < 1e-3
    resolved = check_request(method, granularity, params, record).params
    token, seq = captum_attribute(
        lm.model, build_features(record, lm.tokenizer, granularity), record.output_ids, method, resolved
    )
    scale = 1.0 if method == "feature-ablation" else float(np.abs(token).max())
    assert np.abs(ours.token_attr - token).max() <= 1e-4 * scale
    assert np.abs(ours.seq_attr).max() > 1e-2


# The benchmark's 85-token prompt (benchmarks/attribution.py), where integrated gradients once differed
# from Captum's LLMGradientAttribution by 5.7e-3 (relative 1.0e-3) at 16 steps.
PROMPT_85 = (
    "Loan application for a personal loan at a retail bank. The applicant reports an annual income of $42,000 from "
    "a part-time retail job held for eight months, monthly debt payments of $1,900 on two credit cards and a car loan, "
    "a credit score of 580 with one missed payment last year, no savings, and rents an apartment. The amount requested "
    "is $25,000 for debt consolidation over five years. Should the bank approve this loan, and why?"
)


def test_integrated_gradients_matches_captum_at_85_tokens_in_float64(default_loaded, tmp_path):
    """The cause of that difference: log-softmax always ran in float32, so a float64 model was capped at float32
    precision. With it fixed, ours equals Captum's to ~1e-6 (relative) in float64 at 16 steps on the first output
    token, where the difference was largest. In float32 both are ~1e-3 (relative) away from the float64 value:
    at 16 Gauss-Legendre points the integrand is dominated by alpha 0.19-0.27, where the prompt is a blend of
    the real tokens and the baseline and float32 gradients carry 1e-3 relative error, so two float32
    implementations that round differently cannot agree to 1e-4 there (docs/attribution.md)."""
    import copy
    import dataclasses

    import torch

    from audit.scoring import teacher_forced

    lm = default_loaded
    model = copy.deepcopy(lm.model).double()
    ids = lm.tokenizer(PROMPT_85)["input_ids"][:85]
    auditor = Auditor(db=tmp_path / "a.db", model=lm)
    base = auditor.generate(prompt=lm.tokenizer.decode(ids), max_new_tokens=1)
    with torch.no_grad():
        out = model(torch.tensor([ids])).logits[0, -1].argmax().item()
    record = dataclasses.replace(
        base, input_ids=ids, output_ids=[out], token_logprobs=teacher_forced(model, ids, [out]).token_logprobs
    )
    params = {"n_steps": 16}
    ours = explain_record(model, lm.tokenizer, record, "integrated-gradients", "token", **params)
    resolved = check_request("integrated-gradients", "token", params, record).params
    features = build_features(record, lm.tokenizer, "token")
    token, _ = captum_attribute(model, features, record.output_ids, "integrated-gradients", resolved)
    assert len(features.labels) == 85 and ours.token_attr.shape == (1, 85)
    assert np.abs(ours.token_attr - token).max() <= 1e-4 * float(np.abs(token).max())
