"""Decision explanations against Captum's own algorithms with a forward function returning the same score.

The score is log p(chosen) - log p(contrast) of the two labels' whole token sequences at the start of the
answer. Captum runs FeatureAblation, ShapleyValueSampling, Lime and KernelShap on its interpretable inputs
(one perturbation per call, plain unbatched forwards that project every position), IntegratedGradients and
InputXGradient on the prompt's input embeddings; ours runs batched, prefix-cached and label-positions only.
Tolerances: 1e-4 absolute (perturbations), 1e-4 relative to the largest attribution (gradients). Labels
of two and three tokens exercise the second, masked pass of the label scorer at field granularity, where
perturbed prompts differ in length.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audit import Auditor
from audit.attribution.explain import decision_target, explain_record
from audit.attribution.inputs import build_features
from audit.attribution.reference import captum_decision_attribute, contrastive_logprob
from audit.attribution.request import check_request
from audit.decision.scorer import LabelScorer, score_labels

FAST = {
    "shapley-sampling": {"n_samples": 2},
    "lime": {"n_samples": 12},
    "kernel-shap": {"n_samples": 12},
    "integrated-gradients": {"n_steps": 6},
}
PERTURBATION = ("feature-ablation", "shapley-sampling", "lime", "kernel-shap")
GRADIENT = ("integrated-gradients", "gradient-x-input")
DECISION = {"labels": ["APPROVE", "DECLINE", "REFER"], "favourable": "APPROVE"}

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def record(tiny_loaded, tmp_path_factory):
    auditor = Auditor(db=tmp_path_factory.mktemp("decision-captum") / "a.db", model=tiny_loaded)
    return auditor.generate(
        system="Credit analyst.",
        template="Income {income}, debt {debt}, score {score}. Approve?",
        variables={"income": "$42,000", "debt": "$1,900", "score": "580"},
        max_new_tokens=2,
        decision=DECISION,
    )


def test_label_scorer_matches_plain_forwards(tiny_loaded, record):
    """Batched, prefix-cached, with a masked second pass over prompts of different lengths: the same numbers."""
    tok = tiny_loaded.tokenizer
    features = build_features(record, tok, "field")
    prompts = features.perturbed_ids(torch.tensor([[1.0, 1.0, 1.0], [0.0, 1.0, 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]))
    assert len({len(p) for p in prompts}) == 4  # every row a different length: padding in both passes
    labels = [record.decision.label_token_ids[label] for label in record.decision.labels]
    assert sorted(len(ids) for ids in labels) == [2, 2, 3]
    ours = score_labels(tiny_loaded.model, prompts, labels, reference=record.input_ids, batch_size=3)
    for j, ids in enumerate(labels):
        other = labels[(j + 1) % 3]
        expected = contrastive_logprob(tiny_loaded.model, prompts, ids, other).numpy()
        assert np.abs((ours[:, j] - ours[:, (j + 1) % 3]) - expected).max() <= 1e-4
    recorded = [record.decision.label_logprobs[label] for label in record.decision.labels]
    assert np.abs(ours[0] - recorded).max() <= 1e-5  # the unperturbed prompt: what was recorded
    scorer = LabelScorer(tiny_loaded.model, record.input_ids, labels)
    assert scorer.score(prompts[:2]).shape == (2, 3) and scorer.evaluations == 2


@pytest.mark.parametrize("method", PERTURBATION + GRADIENT)
@pytest.mark.parametrize("granularity", ["token", "field"])
def test_decision_attributions_match_captum(tiny_loaded, record, method, granularity):
    params = check_request(method, granularity, FAST.get(method, {}), record).params
    ours = explain_record(tiny_loaded.model, tiny_loaded.tokenizer, record, method, granularity, **FAST.get(method, {}))
    request = check_request(method, granularity, {}, record).for_record(record)
    target = decision_target(record, request)
    assert (target.label, target.contrast) == (record.decision.chosen, record.decision.runner_up)
    features = build_features(record, tiny_loaded.tokenizer, granularity, 0)
    reference, full, empty = captum_decision_attribute(
        tiny_loaded.model, features, list(target.label_ids), list(target.contrast_ids), method, params
    )
    assert ours.target.kind == "decision" and ours.token_attr.shape == (1, len(features.labels))
    assert np.array_equal(ours.token_attr[0], ours.seq_attr)
    assert abs(ours.target.score - full) <= 1e-4  # the unperturbed score is the recorded margin over the contrast
    if method in GRADIENT:
        assert np.abs(ours.seq_attr - reference).max() <= 1e-4 * float(np.abs(reference).max())
    else:
        assert np.abs(ours.seq_attr - reference).max() <= 1e-4
    assert np.abs(ours.seq_attr).max() > 1e-3
    completeness = ours.completeness
    assert abs(completeness["score_change"] - (full - empty)) <= 1e-4
    assert abs(completeness["attributed"] - float(reference.sum())) <= 1e-4 * max(1.0, float(np.abs(reference).sum()))
    if method == "shapley-sampling":  # every sampled order telescopes to the full change: no gap
        assert abs(completeness["gap"]) <= 1e-4
    if method == "feature-ablation":  # one feature at a time: the gap is the features' interaction, reported
        assert abs(completeness["gap"] - (float(reference.sum()) - (full - empty))) <= 1e-4
    if method == "integrated-gradients":
        assert abs(ours.convergence_delta[0] - completeness["gap"]) <= 1e-4


def test_contrast_can_be_chosen_and_changes_the_key(tiny_loaded, record):
    other = next(
        label for label in record.decision.labels if label not in (record.decision.chosen, record.decision.runner_up)
    )
    default = check_request("feature-ablation", "field", {}, record).for_record(record)
    chosen = check_request("feature-ablation", "field", {"contrast": other}, record).for_record(record)
    output = check_request("feature-ablation", "field", {"target": "output"}, record).for_record(record)
    assert len({default.key, chosen.key, output.key}) == 3
    ours = explain_record(tiny_loaded.model, tiny_loaded.tokenizer, record, "feature-ablation", "field", contrast=other)
    assert ours.target.contrast == other
    features = build_features(record, tiny_loaded.tokenizer, "field", 0)
    ids = record.decision.label_token_ids
    reference, _, _ = captum_decision_attribute(
        tiny_loaded.model, features, ids[record.decision.chosen], ids[other], "feature-ablation", {}
    )
    assert np.abs(ours.seq_attr - reference).max() <= 1e-4
