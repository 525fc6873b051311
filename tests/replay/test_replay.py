"""Replay on the tiny model: verdict levels, model check, environment diff, storage, CLI."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch

from audit import Auditor, UserError
from audit.ids import uuid7
from audit.model import load_model
from audit.params import config_to_record
from audit.replay.compare import END, compare_outputs
from audit.replay.config import RUN_KEYS, rebuild_generation_config
from audit.store import AuditStore
from tests.conftest import build_tiny_model

PROMPT = "Income 42000, score 580. Approve?"


def file_sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def recorded(tiny_loaded, tmp_path_factory):
    """A database with one greedy and one sampled record (module-scoped: recorded once)."""
    db = tmp_path_factory.mktemp("replay") / "recorded.db"
    auditor = Auditor(db=db, model=tiny_loaded)
    greedy = auditor.generate(prompt=PROMPT, max_new_tokens=8, use_case="credit-decision")
    sampled = auditor.generate(prompt=PROMPT, max_new_tokens=8, do_sample=True, temperature=1.5, top_p=0.95, seed=7)
    return db, greedy, sampled


@pytest.fixture
def db_copy(recorded, tmp_path) -> Path:
    copy = tmp_path / "copy.db"
    shutil.copy(recorded[0], copy)
    return copy


@pytest.fixture(scope="module")
def other_model_dir(tmp_path_factory) -> Path:
    """The tiny architecture with other weights (another seed): same config and tokenizer."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-other"), seed=1)


def test_greedy_and_sampled_replay_identical_and_are_stored(recorded, db_copy, tiny_loaded):
    _, greedy, sampled = recorded
    auditor = Auditor(db=db_copy, model=tiny_loaded)
    for record in (greedy, sampled):
        result = auditor.replay(record.id)
        assert result.verdict == "identical"
        assert result.replayed_output_ids == record.output_ids
        assert result.max_logprob_diff == 0.0  # same stack, same kernels: bit-identical
        assert result.first_divergence is None and result.model_matches
        assert all(entry["match"] for entry in result.model_match.values())
        assert result.environment_diff == {}
        assert result.extra["prompt_retokenises_identically"] is True
    with AuditStore.open(db_copy) as store:
        latest = store.replays.latest(sampled.id)
        assert latest == dataclasses.replace(result)  # read back field for field
        events = list(store.events.iter(kind="replay"))
        assert [e.payload["record_id"] for e in events] == [greedy.id, sampled.id]
        for event in events:
            assert store.evidence["replay"].payload(event.subject_id) == event.payload
        assert store.replays.latest(uuid7()) is None


def test_sampling_really_depends_on_the_seed(recorded, tiny_loaded, tmp_path):
    """Guards the sampled case above: with another seed the same request gives other tokens."""
    _, _, sampled = recorded
    other = Auditor(db=tmp_path / "other.db", model=tiny_loaded).generate(
        prompt=PROMPT, max_new_tokens=8, do_sample=True, temperature=1.5, top_p=0.95, seed=8
    )
    assert other.output_ids != sampled.output_ids


def test_generation_config_is_rebuilt_field_for_field(recorded):
    _, _, sampled = recorded
    rebuilt = config_to_record(rebuild_generation_config(sampled.generation_config))
    expected = {k: v for k, v in sampled.generation_config.items() if k not in RUN_KEYS}
    assert rebuilt == expected
    assert (rebuilt["do_sample"], rebuilt["temperature"], rebuilt["top_p"]) == (True, 1.5, 0.95)


def test_altered_output_ids_diverge_at_that_step(recorded, db_copy, tiny_loaded):
    """Tampering in a test copy: a record whose step-3 token was swapped for the runner-up."""
    _, greedy, _ = recorded
    step = 3
    runner_up = greedy.top_logprobs[step][1]
    altered_ids = list(greedy.output_ids)
    altered_ids[step] = runner_up.token_id
    altered = dataclasses.replace(greedy, id=uuid7(), output_ids=altered_ids, seq=None)
    with AuditStore.open(db_copy, write=True) as store:
        store.records.append(altered)
    result = Auditor(db=db_copy, model=tiny_loaded).replay(altered.id)
    assert result.verdict == "diverged"
    d = result.first_divergence
    assert d.step == step
    assert (d.recorded_token_id, d.replayed_token_id) == (runner_up.token_id, greedy.output_ids[step])
    assert d.replayed_token == tiny_loaded.tokenizer.decode([greedy.output_ids[step]])
    top = greedy.top_logprobs[step]
    assert d.recorded_margin == pytest.approx(top[0].logprob - top[1].logprob, abs=1e-12)
    assert d.recorded_margin > 0
    # The steps before the divergence still agree to the last bit.
    assert result.max_logprob_diff == 0.0
    assert result.replayed_output_ids == greedy.output_ids


def test_altered_logprob_is_logprob_drift_with_its_size(recorded, db_copy, tiny_loaded):
    _, greedy, _ = recorded
    logprobs = list(greedy.token_logprobs)
    logprobs[2] += 3e-3
    altered = dataclasses.replace(greedy, id=uuid7(), token_logprobs=logprobs, seq=None)
    with AuditStore.open(db_copy, write=True) as store:
        store.records.append(altered)
    auditor = Auditor(db=db_copy, model=tiny_loaded)
    drift = auditor.replay(altered.id)
    assert drift.verdict == "logprob-drift"
    assert drift.max_logprob_diff == pytest.approx(3e-3, rel=1e-6)
    assert drift.first_divergence is None
    assert auditor.replay(altered.id, tolerance=1e-2).verdict == "identical"


def test_compare_reports_an_output_that_ends_early():
    class Alt:
        def __init__(self, token_id, logprob):
            self.token_id, self.logprob = token_id, logprob

    record = type("R", (), {})()
    record.output_ids = [5, 6, 7]
    record.token_logprobs = [-0.1, -0.2, -0.3]
    record.top_logprobs = [[Alt(5, -0.1), Alt(9, -2.0)], [Alt(6, -0.2), Alt(9, -1.0)], [Alt(7, -0.3), Alt(2, -0.5)]]
    result = compare_outputs(record, [5, 6], [-0.1, -0.25], [[(5, -0.1)], [(6, -0.25)]], str)
    assert result.verdict == "diverged"
    assert (result.first_divergence.step, result.first_divergence.replayed_token_id) == (2, END)
    assert result.first_divergence.recorded_margin == pytest.approx(0.2)
    assert result.max_logprob_diff == pytest.approx(0.05)


def test_other_model_is_refused_then_flagged(recorded, db_copy, tiny_loaded, other_model_dir):
    _, greedy, _ = recorded
    auditor = Auditor(db=db_copy, model=tiny_loaded)
    before = file_sha(db_copy)
    with pytest.raises(UserError, match=r"weights_sha256 differs in model.safetensors.*--allow-model-mismatch"):
        auditor.replay(greedy.id, model=str(other_model_dir))
    assert file_sha(db_copy) == before
    result = auditor.replay(greedy.id, model=str(other_model_dir), allow_model_mismatch=True)
    assert not result.model_matches and result.allow_model_mismatch
    match = result.model_match
    assert not match["weights_sha256"]["match"]
    assert match["weights_sha256"]["recorded"] == greedy.model.weights_sha256
    assert (
        match["config_sha256"]["match"]
        and match["tokenizer_sha256"]["match"]
        and match["chat_template_sha256"]["match"]
    )
    assert "DIFFERENT MODEL: weights_sha256" in result.headline
    assert result.verdict == "diverged"  # other random weights pick other tokens at step 0


def test_thread_count_and_dtype_show_in_environment_diff(recorded, db_copy, tiny_loaded, tiny_model_dir):
    _, greedy, _ = recorded
    auditor = Auditor(db=db_copy, model=tiny_loaded)
    threads = torch.get_num_threads()
    recorded_threads = greedy.environment.threads
    torch.set_num_threads(recorded_threads + 1)
    try:
        result = auditor.replay(greedy.id)
    finally:
        torch.set_num_threads(threads)
    assert result.environment_diff["threads"] == {"recorded": recorded_threads, "current": recorded_threads + 1}
    assert result.environment_diff["determinism.num_threads"]["current"] == recorded_threads + 1
    bf16 = load_model(str(tiny_model_dir), device="cpu", dtype="bfloat16")
    result = auditor.replay(greedy.id, model=bf16)
    assert result.model_matches  # same files: the dtype is an environment change, not another model
    assert result.environment_diff["dtype"] == {"recorded": "float32", "current": "bfloat16"}
    assert set(result.environment_diff) == {"dtype"}


def test_replay_loads_the_records_own_model_by_default(recorded, db_copy, tiny_model_dir):
    """No model given: the record's folder is loaded (the CLI path without --model)."""
    _, greedy, _ = recorded
    auditor = Auditor(db=db_copy)
    assert auditor.replay(greedy.id).verdict == "identical"
    assert auditor._loaded is None  # the default model was never loaded


def test_user_errors_store_nothing(recorded, db_copy, tiny_loaded):
    _, greedy, _ = recorded
    auditor = Auditor(db=db_copy, model=tiny_loaded)
    before = file_sha(db_copy)
    with pytest.raises(UserError, match="no record with id"):
        auditor.replay("0000-nope")
    with pytest.raises(UserError, match="tolerance must be >= 0"):
        auditor.replay(greedy.id, tolerance=-1)
    with pytest.raises(UserError, match="no records with use case 'nope'"):
        auditor.replay_many(use_case="nope")
    assert file_sha(db_copy) == before


def test_cli_replay_json_all_and_errors(cli, cli_fast, recorded, db_copy, other_model_dir):
    _, greedy, sampled = recorded
    one = cli("replay", greedy.id, "--db", str(db_copy), "--json")
    assert one.returncode == 0, one.stderr
    data = json.loads(one.stdout)
    assert {"record_id", "verdict", "model_match", "environment_diff", "first_divergence", "max_logprob_diff"} <= set(
        data
    )
    assert (data["record_id"], data["verdict"], data["first_divergence"]) == (greedy.id, "identical", None)

    altered_ids = list(sampled.output_ids)
    altered_ids[1] = (
        sampled.top_logprobs[1][1].token_id
        if altered_ids[1] != sampled.top_logprobs[1][1].token_id
        else sampled.top_logprobs[1][0].token_id
    )
    altered = dataclasses.replace(sampled, id=uuid7(), output_ids=altered_ids, seq=None)
    with AuditStore.open(db_copy, write=True) as store:
        store.records.append(altered)
    table = cli_fast("replay", "--all", "--db", str(db_copy))
    assert table.returncode == 1, table.stderr  # not all identical
    assert "identical: 2  logprob-drift: 0  diverged: 1  decision-changed: 0  (total 3)" in table.stdout
    row = next(line for line in table.stdout.splitlines() if line.startswith(altered.id))
    assert row.split()[1:3] == ["diverged", "0.00e+00"]  # the step before agrees to the bit
    assert row.split()[3] == "1"

    before = file_sha(db_copy)
    refused = cli_fast("replay", greedy.id, "--db", str(db_copy), "--model", str(other_model_dir))
    assert refused.returncode == 2
    assert refused.stderr.strip().startswith("Error: record") and len(refused.stderr.strip().splitlines()) == 1
    assert "--allow-model-mismatch" in refused.stderr
    assert file_sha(db_copy) == before
