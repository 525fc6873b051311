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
