"""A model change that flips a decision: CI fails, replay says ``decision-changed``; batches stay idempotent.

The changed model is the tiny model with the embedding rows of the labels ``Yes`` and ``No`` swapped
(the embeddings are tied to the output projection): at the answer's first position their logits swap,
so the decision between them flips for certain, while the weights' hashes say the model changed.
"""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest
import torch

from audit import Auditor
from audit.checks.baseline import load_baseline
from audit.checks.compare import compare_case
from audit.checks.suite import load_suite
from audit.cli.replay import replay_table
from audit.model import load_model
from audit.store import AuditStore

pytestmark = pytest.mark.usefixtures("single_thread")

SUITE = """
[suite]
name = "decisions"

[[case]]
name = "loan"
use_case = "credit-decision"
system = "Answer Yes or No."
template = "Income {income}, debt {debt}, score {score}. Approve the loan?"
target = "decision"
method = "feature-ablation"
granularity = "field"
faithfulness = false

[case.variables]
income = "$42,000"
debt = "$1,900"
score = "580"

[case.generation]
max_new_tokens = 3

[case.decision]
labels = ["Yes", "No"]
favourable = "Yes"
"""


@pytest.fixture(scope="module")
def swapped_dir(tiny_model_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("swapped") / "model"
    shutil.copytree(tiny_model_dir, folder)
    loaded = load_model(str(folder), device="cpu")
    tok = loaded.tokenizer
    yes, no = (tok(word, add_special_tokens=False)["input_ids"][0] for word in ("Yes", "No"))
    with torch.no_grad():
        weight = loaded.model.get_input_embeddings().weight
        weight[[yes, no]] = weight[[no, yes]].clone()
    loaded.model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def suite_files(tiny_loaded, tmp_path_factory):
    folder = tmp_path_factory.mktemp("suite")
    (folder / "suite.toml").write_text(SUITE)
    auditor = Auditor(db=folder / "baseline.db", model=tiny_loaded)
    runs = auditor.create_baseline(folder / "suite.toml", folder / "baseline.json")
    return folder, runs[0]


def test_baseline_keeps_the_decision_and_its_reasons(suite_files):
    folder, run = suite_files
    entry = json.loads((folder / "baseline.json").read_text())["cases"]["loan"]
    assert entry["attribution"]["params"]["target"]["kind"] == "decision"
    assert entry["decision"]["chosen"] == run.record.decision.chosen
    assert entry["decision"]["contrast"] == run.attribution.target.contrast
    assert entry["definition"]["target"] == "decision" and entry["definition"]["decision"]["labels"] == ["Yes", "No"]


def test_a_flipped_decision_fails_the_check(suite_files, swapped_dir, cli, tmp_path):
    folder, run = suite_files
    done = cli(
        "check",
        "--suite",
        str(folder / "suite.toml"),
        "--baseline",
        str(folder / "baseline.json"),
        "--model",
        str(swapped_dir),
        "--json",
    )
    assert done.returncode == 1, done.stderr
    (case,) = json.loads(done.stdout)["cases"]
    other = "No" if run.record.decision.chosen == "Yes" else "Yes"
    assert case["failures"][0].startswith(f"decision changed: baseline {run.record.decision.chosen} (p ")
    assert f"now {other} (p " in case["failures"][0]


def test_reordered_reasons_fail_the_check(suite_files):
    folder, run = suite_files
    baseline = load_baseline(folder / "baseline.json")
    reasons = baseline.cases["loan"]["decision"]["reasons"]
    assert compare_case(run, baseline).passed
    values = np.asarray(run.attribution.seq_attr, dtype=np.float32)
    assert len(reasons) >= 2, "the test needs two principal reasons to reorder"
    first, second = (run.attribution.features.index(name) for name in reasons[:2])
    swapped = values.copy()
    swapped[[first, second]] = values[[second, first]]
    moved = dataclasses.replace(
        run, attribution=dataclasses.replace(run.attribution, seq_attr=swapped, token_attr=swapped[None])
    )
    result = compare_case(moved, baseline)
    assert not result.passed
    assert any(f.startswith("principal reasons for ") and "reordered" in f for f in result.failures)


def test_replay_on_the_changed_model_says_decision_changed(tiny_loaded, swapped_dir, cli, tmp_path):
    db = tmp_path / "r.db"
    auditor = Auditor(db=db, model=tiny_loaded)
    suite = load_suite_text(tmp_path)
    record = auditor.generate(**suite.cases[0].generate_kwargs())
    same = auditor.replay(record.id)
    assert same.verdict == "identical" and same.decision["changed"] is False
    done = cli("replay", record.id, "--model", str(swapped_dir), "--allow-model-mismatch", "--db", str(db))
    assert done.returncode == 1, done.stderr
    assert "decision-changed" in done.stdout and "decision     CHANGED recorded" in done.stdout
    with AuditStore.open(db) as store:
        stored = list(store.replays.iter(record.id))
    assert [r.verdict for r in stored] == ["identical", "decision-changed"]
    other = "No" if record.decision.chosen == "Yes" else "Yes"
    assert stored[1].decision["replayed_chosen"] == other
    table = replay_table(stored)  # what `llm-audit replay --all` prints
    assert "identical: 1  logprob-drift: 0  diverged: 0  decision-changed: 1  (total 2)" in table
    assert f"{record.decision.chosen} -> {other}" in table


def load_suite_text(folder):
    (folder / "suite.toml").write_text(SUITE)
    return load_suite(folder / "suite.toml")


def test_batches_resolve_the_target_per_record_and_stay_idempotent(tiny_loaded, tmp_path):
    auditor = Auditor(db=tmp_path / "b.db", model=tiny_loaded)
    suite = load_suite_text(tmp_path)
    decided = auditor.generate(**suite.cases[0].generate_kwargs())
    plain = auditor.generate(prompt="Rates rose today.", max_new_tokens=2)
    first = auditor.explain_all(granularity="token")
    assert first.stored == 2
    kinds = {e.record_id: e.target.kind for e in auditor.explanations()}
    assert kinds == {decided.id: "decision", plain.id: "output"}
    assert auditor.explain_all(granularity="token").already_done == 2  # resumable: nothing new
    again = auditor.explain_all(granularity="token", target="output")  # the decision record's text is new work
    assert again.stored == 1 and again.already_done == 1
    only = auditor.explain_all(granularity="token", target="decision")
    assert only.already_done == 1 and plain.id in only.skipped and "has no decision" in only.skipped[plain.id]
