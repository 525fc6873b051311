"""Batch explanation in-process: one writer, idempotent, resumable, never stores a result twice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audit import Auditor
from audit.attribution.explain import explain_record
from audit.attribution.request import check_request, params_key
from audit.integrity.verify import verify_database
from audit.scale.driver import run_batch
from audit.scale.pending import Selection
from audit.scale.work import ExplainWork, Outcome
from audit.store import AuditStore

pytestmark = pytest.mark.usefixtures("single_thread")

CASES = [
    {"template": "Income {income}, score {score}. Approve?", "variables": {"income": "$42,000", "score": "580"}},
    {"template": "Income {income}, score {score}. Approve?", "variables": {"income": "$95,000", "score": "760"}},
    {"template": "Debt {debt}. Approve?", "variables": {"debt": "$3,000"}},
    {"prompt": "Summarise the quarterly report."},  # no template: no fields to explain
]


@pytest.fixture
def db(cases_db_copy: Path) -> Path:
    """A private copy of this module's CASES, recorded once (conftest ``cases_db``)."""
    return cases_db_copy


def _explanations(db: Path) -> list:
    with AuditStore.open(db) as store:
        return store.explanations.list()


def test_explain_all_matches_single_record_explanations_and_second_run_does_nothing(db, tiny_loaded):
    auditor = Auditor(db=db, model=tiny_loaded)
    first = auditor.explain_all(granularity="field", n_samples=None)
    assert (first.selected, first.stored, first.failed, first.already_done, len(first.skipped)) == (4, 3, 0, 0, 1)
    stored = _explanations(db)
    records = {r.id: r for r in auditor.list()}
    assert sorted(e.record_id for e in stored) == sorted(list(records)[:3])
    for explanation in stored:
        reference = explain_record(
            tiny_loaded.model, tiny_loaded.tokenizer, records[explanation.record_id], "feature-ablation", "field"
        )
        assert explanation.token_attr.tobytes() == reference.token_attr.tobytes()
        assert explanation.seq_attr.tobytes() == reference.seq_attr.tobytes()
    again = auditor.explain_all(granularity="field")
    assert (again.stored, again.already_done, again.todo) == (0, 3, 0)
    # Other effective parameters are another explanation: all pending again.
    other = auditor.explain_all(granularity="field", baseline_token=5)
    assert (other.stored, other.already_done) == (3, 0)
    assert len(_explanations(db)) == 6 and verify_database(db).ok


def test_params_key_ignores_descriptive_params_and_matches_what_is_stored(db, tiny_loaded):
    auditor = Auditor(db=db, model=tiny_loaded)
    record = auditor.list()[0]
    result = auditor.explain(record.id, method="shapley-sampling", granularity="field", n_samples=2)
    requested = check_request("shapley-sampling", "field", {"n_samples": 2}, record).for_record(record).key
    assert params_key("shapley-sampling", "field", result.params) == requested
    assert params_key("shapley-sampling", "field", {**result.params, "captum": "0.0.1"}) == requested
    assert params_key("shapley-sampling", "field", {**result.params, "n_samples": 3}) != requested
    assert params_key("shapley-sampling", "token", result.params) != requested


def test_interrupted_run_keeps_what_was_stored_and_resumes(db, tiny_loaded):
    auditor = Auditor(db=db, model=tiny_loaded)

    def interrupt(summary):
        if summary.stored == 1:
            raise KeyboardInterrupt

    first = auditor.explain_all(granularity="token", on_stored=interrupt)
    assert first.interrupted and first.stored == 1 and "INTERRUPTED" in first.table()
    assert len(_explanations(db)) == 1 and verify_database(db).ok
    second = auditor.explain_all(granularity="token")
    assert (second.already_done, second.stored, second.interrupted) == (1, 3, False)
    assert sorted(e.record_id for e in _explanations(db)) == sorted(r.id for r in auditor.list())


class _Replaying:
    """An executor whose worker sends one result twice and then one the store already has."""

    name = "test"
    workers = 1

    def __init__(self, outcomes: list[Outcome]) -> None:
        self.outcomes = outcomes

    def run(self, work, records):
        yield from self.outcomes


def test_driver_never_stores_a_record_twice(db, tiny_loaded):
    records = Auditor(db=db).list()[:2]
    work = ExplainWork(check_request("feature-ablation", "field", {}))
    results = [
        explain_record(tiny_loaded.model, tiny_loaded.tokenizer, r, "feature-ablation", "field") for r in records
    ]
    outcome = lambda i: Outcome(records[i].id, result=results[i], worker="w", seconds=0.1)  # noqa: E731
    summary = run_batch(db, work, Selection(todo=records, selected=2), _Replaying([outcome(0), outcome(0), outcome(1)]))
    assert (summary.stored, summary.duplicates) == (2, 1)
    # A later run whose worker returns a result that an earlier run already stored (e.g. a
    # concurrent driver) is refused inside the store transaction.
    late = run_batch(db, work, Selection(todo=records[:1], selected=1), _Replaying([outcome(0)]))
    assert (late.stored, late.duplicates) == (0, 1)
    assert len(_explanations(db)) == 2 and verify_database(db).ok


def test_failed_record_is_reported_and_others_are_stored(db, tiny_loaded):
    work = ExplainWork(check_request("feature-ablation", "field", {}))
    records = Auditor(db=db).list()[:2]
    good = explain_record(tiny_loaded.model, tiny_loaded.tokenizer, records[1], "feature-ablation", "field")
    outcomes = [
        Outcome(records[0].id, error="RuntimeError: out of memory", worker="w"),
        Outcome(records[1].id, result=good, worker="w"),
    ]
    summary = run_batch(db, work, Selection(todo=records, selected=2), _Replaying(outcomes))
    assert summary.failures == {records[0].id: "RuntimeError: out of memory"} and summary.stored == 1
    assert summary.per_worker["w"].records == 2 and summary.per_worker["w"].failures == 1


def test_cli_explain_all_in_process_json(db, tiny_model_dir, cli):
    args = ["explain", "--all", "--db", str(db), "--model", str(tiny_model_dir), "--granularity", "field", "--json"]
    first = cli(*args, env={"OMP_NUM_THREADS": "1"})
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert (summary["stored"], summary["failed"], summary["executor"], len(summary["skipped"])) == (
        3,
        0,
        "in-process",
        1,
    )
    assert summary["per_worker"]["in-process"]["records"] == 3
    assert len(_explanations(db)) == 3


def test_cli_refuses_bad_batch_requests_without_touching_the_database(db, cli):
    before = db.read_bytes()
    both = cli("explain", "someid", "--all", "--db", str(db))
    assert (
        both.returncode == 2
        and both.stderr.count("\n") == 1
        and both.stderr.startswith("Error: pass either one RECORD_ID or --all")
    )
    neither = cli("replay", "--db", str(db))
    assert (
        neither.returncode == 2
        and neither.stderr.count("\n") == 1
        and neither.stderr.startswith("Error: pass either one RECORD_ID or --all")
    )
    assert db.read_bytes() == before


def test_executor_ray_without_ray_installed_names_the_install_command(db, monkeypatch):
    import sys

    from audit.cli.explain import make_executor
    from audit.errors import UserError

    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` sees when Ray is not installed
    with pytest.raises(UserError, match=r"needs Ray, which is not installed: pip install 'llm-audit\[ray\]'"):
        make_executor(Auditor(db=db), "ray", None, 2, 1)
    assert make_executor(Auditor(db=db), "in-process", None, None, 1) is None
