"""Our attributions against Captum's own LLM wrappers on the same inputs (the reference).

Captum's ``LLMAttribution(..., forward_in_tokens=False)`` and ``LLMGradientAttribution`` are run
unbatched on the same features; ours run batched with the prefix cache (perturbations) or one
forward for all output tokens (gradients). Tolerances: 1e-4 absolute (perturbations), 1e-4
relative to the largest attribution (gradients).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.attr import FeatureAblation, LLMAttribution

from audit import Auditor
from audit.attribution.explain import explain_record
from audit.attribution.inputs import PositionTokenInput, build_features
from audit.attribution.reference import captum_attribute
from audit.attribution.request import check_request
from audit.scoring import teacher_forced

FAST = {
    "shapley-sampling": {"n_samples": 2},
    "lime": {"n_samples": 12},
    "kernel-shap": {"n_samples": 12},
    "integrated-gradients": {"n_steps": 6},
}
PERTURBATION = ("feature-ablation", "shapley-sampling", "lime", "kernel-shap")
GRADIENT = ("integrated-gradients", "gradient-x-input")


pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def auditor(tiny_loaded, tmp_path_factory):
    return Auditor(db=tmp_path_factory.mktemp("attr") / "a.db", model=tiny_loaded)


@pytest.fixture(scope="module")
def credit_record(auditor):
    """A plain template (no chat markup): few tokens, so Captum's unbatched reference stays quick."""
    return auditor.generate(
        template="Income {income}, debt {debt}, score {score}. Approve?",
        variables={"income": "$42,000", "debt": "$1,900", "score": "580"},
        max_new_tokens=3,
    )


@pytest.fixture(scope="module")
def chat_record(auditor):
    return auditor.generate(
        system="Credit analyst.",
        template="Income {income}, score {score}. Approve?",
        variables={"income": "$42,000", "score": "580"},
        max_new_tokens=3,
    )


def compare(loaded, record, method, granularity):
    params = check_request(method, granularity, FAST.get(method, {}), record).params
    ours = explain_record(loaded.model, loaded.tokenizer, record, method, granularity, **FAST.get(method, {}))
    features = build_features(record, loaded.tokenizer, granularity, 0)
    token, seq = captum_attribute(loaded.model, features, record.output_ids, method, params)
    assert ours.features == features.labels and ours.token_attr.shape == (len(record.output_ids), len(features.labels))
    if method in GRADIENT:
        scale = float(np.abs(token).max())
        assert scale > 0
        assert np.abs(ours.token_attr - token).max() <= 1e-4 * scale
        assert np.abs(ours.seq_attr - seq).max() <= 1e-4 * scale * len(record.output_ids)
    else:
        assert np.abs(ours.seq_attr - seq).max() <= 1e-4
        if token is not None:  # Lime and Kernel SHAP: Captum attributes the whole output only
            assert np.abs(ours.token_attr - token).max() <= 1e-4
    assert np.abs(ours.seq_attr).max() > 1e-3  # the features do matter: a zero result would pass trivially
    return ours


@pytest.mark.parametrize("method", PERTURBATION + GRADIENT)
@pytest.mark.parametrize("granularity", ["token", "field"])
def test_matches_captum(tiny_loaded, credit_record, method, granularity):
    ours = compare(tiny_loaded, credit_record, method, granularity)
    if granularity == "field":
        assert ours.features == ["income", "debt", "score"]
    if method == "integrated-gradients":
        assert len(ours.convergence_delta) == len(credit_record.output_ids)


@pytest.mark.parametrize("method", ["feature-ablation", "integrated-gradients"])
def test_segments_match_captum(tiny_loaded, chat_record, method):
    ours = compare(tiny_loaded, chat_record, method, "segment")
    assert ours.features == ["system", "user"]


def test_token_features_exclude_chat_markup(tiny_loaded, chat_record):
    tok = tiny_loaded.tokenizer
    features = build_features(chat_record, tok, "token")
    special = set(tok.all_special_ids)
    attributed = [chat_record.input_ids[p] for p in features.positions]
    assert special & set(chat_record.input_ids) and not special & set(attributed)
    # Only message contents: role headers ("system\n", "user\n") are markup, not features.
    assert tok.decode(attributed) == "Credit analyst.Income $42,000, score 580. Approve?"
    fields = build_features(chat_record, tok, "field")
    # A token that straddles a field boundary (" $": the space merged with the value) belongs to the field.
    assert [tok.decode([chat_record.input_ids[p] for p in g]) for g in fields.groups] == [" $42,000", "580"]


def test_kernel_shap_token_rows_sum_to_sequence(tiny_loaded, credit_record):
    # Kernel SHAP's surrogate is a least-squares fit, linear in the target, so the per-token fits
    # (same samples, replayed from the seed) must add up to the whole-output fit.
    ours = explain_record(tiny_loaded.model, tiny_loaded.tokenizer, credit_record, "kernel-shap", "field", n_samples=12)
    assert np.allclose(ours.token_attr.sum(0), ours.seq_attr, atol=1e-4)


def test_ablation_sums_are_exact_effects(tiny_loaded, credit_record):
    # Feature ablation of a field = teacher-forced log-prob with the field emptied minus unperturbed.
    ours = explain_record(tiny_loaded.model, tiny_loaded.tokenizer, credit_record, "feature-ablation", "field")
    features = build_features(credit_record, tiny_loaded.tokenizer, "field")
    emptied = features.perturbed_ids(torch.tensor([[1.0, 1.0, 0.0]]))[0]
    base = np.array(teacher_forced(tiny_loaded.model, credit_record.input_ids, credit_record.output_ids).token_logprobs)
    without = np.array(teacher_forced(tiny_loaded.model, emptied, credit_record.output_ids).token_logprobs)
    assert np.abs(ours.token_attr[:, 2] - (base - without)).max() <= 1e-4


def test_logprob_deviation_is_measured_and_warned(tiny_loaded, credit_record):
    from dataclasses import replace

    from audit.attribution.explain import LogprobMismatchWarning

    ours = explain_record(tiny_loaded.model, tiny_loaded.tokenizer, credit_record, "gradient-x-input", "field")
    assert ours.logprob_max_diff < 1e-4
    shifted = replace(credit_record, token_logprobs=[lp + 0.01 for lp in credit_record.token_logprobs])
    with pytest.warns(LogprobMismatchWarning):
        off = explain_record(tiny_loaded.model, tiny_loaded.tokenizer, shifted, "gradient-x-input", "field")
    assert abs(off.logprob_max_diff - 0.01) < 1e-4


def test_captum_default_cached_path_is_wrong_after_first_token(tiny_loaded):
    """Pins Captum 0.9's default path (forward_in_tokens=True, use_cached_outputs=True) on transformers 5.

    It scores the first target token right and the following ones wrong; the uncached token-by-token
    path and the sequence path agree with teacher forcing. If this test fails, Captum (or
    transformers) fixed it: the benchmark's "default path" column then measures a correct method.
    """
    tok = tiny_loaded.tokenizer
    prompt = tok("Income 42000, score 580. Should the bank approve the loan?", add_special_tokens=False)["input_ids"]
    output = tok(" No, the score is too low.", add_special_tokens=False)["input_ids"]
    llm = LLMAttribution(FeatureAblation(tiny_loaded.model), tok)
    inp = PositionTokenInput(prompt, range(len(prompt)), tok)
    target = torch.tensor(output)
    reference = np.array(teacher_forced(tiny_loaded.model, prompt, output).token_logprobs)
    cached = llm._forward_func(None, inp, target, use_cached_outputs=True, forward_in_tokens=True)[0, 1:].numpy()
    uncached = llm._forward_func(None, inp, target, use_cached_outputs=False, forward_in_tokens=True)[0, 1:].numpy()
    by_seq = llm._forward_func(None, inp, target, forward_in_tokens=False)[0, 1:].numpy()
    assert abs(cached[0] - reference[0]) < 1e-4
    assert np.abs(cached[1:] - reference[1:]).max() > 0.1
    assert np.abs(uncached - reference).max() < 1e-4 and np.abs(by_seq - reference).max() < 1e-4
