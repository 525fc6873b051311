"""Attention: rollout by hand, capture vs numpy and the record, Captum head importance, storage, CLI."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from captum.attr import LayerGradientXActivation

from audit import Auditor
from audit.attention.aggregate import output_input_block, rollout
from audit.attention.analyse import analyse_attention
from audit.attention.capture import capture_attention
from audit.attention.heads import head_importance, output_logprob_sum
from audit.errors import UserError
from audit.model import load_model
from audit.scoring import teacher_forced
from audit.store import AuditStore
from tests.conftest import build_tiny_model

PROMPT = "Income 42000, score 580. Approve?"


@pytest.fixture(scope="module")
def tiny_record(tiny_loaded, tmp_path_factory):
    db = tmp_path_factory.mktemp("attention") / "audit.db"
    auditor = Auditor(db=db, model=tiny_loaded)
    return auditor, auditor.generate(prompt=PROMPT, max_new_tokens=6)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- aggregation ------------------------------------------------------------------------
def test_rollout_matches_hand_computed_two_layer_three_token_example():
    a1 = [[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.2, 0.3, 0.5]]
    a2 = [[1.0, 0.0, 0.0], [0.4, 0.6, 0.0], [0.1, 0.1, 0.8]]
    # By hand: A' = A/2 + I/2 per layer, then R = A'2 @ A'1.
    # A'1 = [[1,0,0],[.25,.75,0],[.1,.15,.75]]   A'2 = [[1,0,0],[.2,.8,0],[.05,.05,.9]]
    # row 1: .2*[1,0,0] + .8*[.25,.75,0] = [.4,.6,0]
    # row 2: .05*[1,0,0] + .05*[.25,.75,0] + .9*[.1,.15,.75] = [.1525,.1725,.675]
    expected = np.array([[1.0, 0.0, 0.0], [0.4, 0.6, 0.0], [0.1525, 0.1725, 0.675]])
    np.testing.assert_allclose(rollout(np.array([a1, a2])), expected, atol=1e-12)


def test_rollout_renormalises_rows_after_adding_the_residual():
    # Rows that do not sum to 1 (e.g. a truncated map): [[1,0],[1,3]]/2 + I/2 = [[1,0],[.5,2]] -> [[1,0],[.2,.8]]
    np.testing.assert_allclose(rollout(np.array([[[1.0, 0.0], [1.0, 3.0]]])), [[1.0, 0.0], [0.2, 0.8]], atol=1e-12)


def test_output_input_block_takes_the_rows_that_predicted_each_output_token():
    matrix = np.arange(25.0).reshape(5, 5)  # 3 input + 2 output tokens
    # output token 0 was predicted at position 2, output token 1 at position 3
    np.testing.assert_array_equal(output_input_block(matrix, 3, 2), [[10, 11, 12], [15, 16, 17]])


# -- capture ----------------------------------------------------------------------------
def test_eager_pass_reproduces_recorded_logprobs_and_restores_sdpa(tiny_loaded, tiny_record):
    _, record = tiny_record
    before = tiny_loaded.attn_implementation
    captured = capture_attention(tiny_loaded.model, record.input_ids, record.output_ids, record.token_logprobs)
    assert tiny_loaded.attn_implementation == before == "sdpa"
    assert captured.max_diff < 1e-4
    np.testing.assert_allclose(captured.token_logprobs, record.token_logprobs, atol=1e-4)
    reference = teacher_forced(tiny_loaded.model, record.input_ids, record.output_ids).token_logprobs
    np.testing.assert_allclose(captured.token_logprobs, reference, atol=1e-5)
    seq = record.input_tokens + record.output_tokens
    assert captured.attentions.shape == (2, 4, seq, seq)
    np.testing.assert_allclose(captured.attentions.sum(-1), 1.0, atol=1e-5)  # softmax rows
    assert np.all(np.triu(captured.attentions, k=1) == 0)  # causal


def test_head_mean_and_max_match_numpy_on_the_captured_tensor(tiny_loaded, tiny_record):
    _, record = tiny_record
    model = tiny_loaded.model
    ids = torch.tensor([record.input_ids + record.output_ids])
    model.set_attn_implementation("eager")
    try:
        with torch.no_grad():
            raw = np.stack(
                [a[0].numpy() for a in model(input_ids=ids, use_cache=False, output_attentions=True).attentions]
            )
    finally:
        model.set_attn_implementation("sdpa")
    result = analyse_attention(tiny_loaded, record, heads=True)
    np.testing.assert_allclose(result.per_head, raw, atol=1e-7)
    np.testing.assert_allclose(result.layer_mean, np.mean(raw, axis=1), atol=1e-7)
    np.testing.assert_allclose(result.layer_max, np.max(raw, axis=1), atol=1e-7)
    np.testing.assert_allclose(
        result.rollout,
        output_input_block(rollout(np.mean(raw, axis=1)), record.input_tokens, record.output_tokens),
        atol=1e-6,
    )
    assert result.rollout.shape == (record.output_tokens, record.input_tokens)


# -- head importance --------------------------------------------------------------------
def test_head_importance_equals_direct_captum_call_and_head_mask_gradient(tiny_loaded, tiny_record):
    _, record = tiny_record
    model = tiny_loaded.model
    importance = head_importance(model, record.input_ids, record.output_ids)
    assert importance.shape == (2, 4)
    ids = torch.tensor([record.input_ids + record.output_ids])
    forward = output_logprob_sum(model, record.input_tokens)

    # The target is the recorded output's summed log-prob, as audit.scoring defines it.
    with torch.no_grad():
        target = float(forward(ids)[0])
    assert target == pytest.approx(
        sum(teacher_forced(model, record.input_ids, record.output_ids).token_logprobs), abs=1e-4
    )

    # A direct Captum call on one layer, split per head by hand.
    layer = model.model.layers[1].self_attn.o_proj
    direct = LayerGradientXActivation(forward, layer).attribute(ids, attribute_to_layer_input=True)
    per_head = direct[0].reshape(len(ids[0]), 4, -1).sum(dim=(0, 2)).detach().numpy()
    np.testing.assert_allclose(importance[1], per_head, rtol=1e-5, atol=1e-6)

    # Independently: the gradient of the target w.r.t. a gate on each head's output (Michel et al. 2019).
    gates = [torch.ones(4, requires_grad=True) for _ in model.model.layers]
    hooks = [
        blk.self_attn.o_proj.register_forward_pre_hook(
            lambda _m, args, g=g: (args[0] * g.repeat_interleave(args[0].shape[-1] // 4),)
        )
        for blk, g in zip(model.model.layers, gates)
    ]
    try:
        forward(ids)[0].backward()
    finally:
        for hook in hooks:
            hook.remove()
    np.testing.assert_allclose(importance, np.stack([g.grad.numpy() for g in gates]), rtol=1e-4, atol=1e-5)
    assert np.abs(importance).max() > 1e-3  # not a vacuous all-zero table


# -- storage ----------------------------------------------------------------------------
def test_stored_maps_reload_equal_to_fresh_ones_and_log_an_event(tiny_loaded, tiny_record):
    auditor, record = tiny_record
    stored = auditor.attention(record.id)
    fresh = analyse_attention(tiny_loaded, record)
    with AuditStore.open(auditor.db_path) as store:
        latest = store.attention.latest(record.id)
        events = [e for e in store.events.iter(kind="attention") if e.subject_id == latest.id]
        blob_bytes = sum(store.blobs.stored_size(sha) for sha in events[0].payload["blobs"].values() if sha)
        projected = store.evidence["attention"].payload(latest.id)
    assert latest.id == stored.id and latest.record_id == record.id
    assert latest.layer_mean.dtype == np.float16 and latest.per_head is None
    half = dict(rtol=2.0**-11, atol=6e-8)  # float16 rounding: half an ulp, subnormal spacing
    np.testing.assert_allclose(latest.layer_mean.astype(np.float32), fresh.layer_mean, **half)
    np.testing.assert_allclose(latest.layer_max.astype(np.float32), fresh.layer_max, **half)
    np.testing.assert_allclose(latest.rollout, fresh.rollout, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(latest.head_importance, fresh.head_importance, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(stored.layer_mean, latest.layer_mean)
    assert latest.tokens == fresh.tokens and latest.n_input == record.input_tokens
    assert (latest.layers, latest.heads) == (2, 4)
    assert len(events) == 1 and events[0].payload == projected
    assert latest.stored_bytes == blob_bytes > 0


def test_heads_flag_stores_per_head_maps(tiny_loaded, tiny_record):
    auditor, record = tiny_record
    light = auditor.attention(record.id)
    heavy = auditor.attention(record.id, heads=True)
    seq = record.input_tokens + record.output_tokens
    assert heavy.per_head.shape == (2, 4, seq, seq) and heavy.per_head.dtype == np.float16
    assert heavy.stored_bytes > light.stored_bytes
    with AuditStore.open(auditor.db_path) as store:
        assert store.attention.latest(record.id).id == heavy.id


def test_user_errors_store_nothing(tiny_record, tmp_path):
    auditor, record = tiny_record
    before = digest(auditor.db_path)
    with pytest.raises(UserError, match="no record"):
        auditor.attention("not-a-record")
    with pytest.raises(UserError, match="tolerance"):
        auditor.attention(record.id, tolerance=0)
    other = Auditor(
        db=auditor.db_path, model=load_model(str(build_tiny_model(tmp_path / "other", seed=1)), device="cpu")
    )
    with pytest.raises(UserError, match="different weights"):
        other.attention(record.id)
    assert digest(auditor.db_path) == before
    with pytest.raises(UserError, match="no audit database"):
        Auditor(db=tmp_path / "missing.db", model=auditor.loaded).attention(record.id)
    assert not (tmp_path / "missing.db").exists()


# -- command line -----------------------------------------------------------------------
def test_cli_attention_json_and_exit_codes(cli, cli_fast, tiny_model_dir, tiny_record):
    auditor, record = tiny_record
    done = cli(
        "attention", record.id, "--db", str(auditor.db_path), "--model", str(tiny_model_dir), "--heads", "--json"
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    for key in ("record_id", "tokens", "layers", "heads", "rollout", "head_importance", "stored_bytes"):
        assert key in data
    assert data["record_id"] == record.id and (data["layers"], data["heads"]) == (2, 4)
    assert len(data["tokens"]) == record.input_tokens + record.output_tokens
    assert np.asarray(data["rollout"]).shape == (record.output_tokens, record.input_tokens)
    assert np.asarray(data["head_importance"]).shape == (2, 4)
    assert data["per_head_stored"] is True and data["stored_bytes"] > 0
    with AuditStore.open(auditor.db_path) as store:
        assert store.attention.latest(record.id).id == data["id"]

    before = digest(auditor.db_path)
    missing = cli_fast("attention", "0000000000", "--db", str(auditor.db_path), "--model", str(tiny_model_dir))
    assert missing.returncode == 2
    assert missing.stderr.strip().count("\n") == 0 and missing.stderr.startswith("Error: no record")
    assert digest(auditor.db_path) == before


# -- default model ----------------------------------------------------------------------
@pytest.mark.integration
def test_default_model_eager_logprobs_match_the_record(default_loaded, db_path):
    auditor = Auditor(db=db_path, model=default_loaded)
    record = auditor.generate(prompt="Credit score 580, income $42,000. Approve?", max_new_tokens=4)
    result = auditor.attention(record.id)
    assert result.logprob_max_diff < 1e-4
    assert (result.layers, result.heads) == (30, 9) and result.head_importance.shape == (30, 9)
    assert default_loaded.attn_implementation == "sdpa"
