"""Explain and replay through Ray actors on a local cluster: same arrays as in-process,
a killed worker is retried without duplicates, an interrupted run resumes.

One local Ray instance (2 CPUs) for the whole module: starting one takes seconds here.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from audit import Auditor  # noqa: E402
from audit.integrity.verify import verify_database  # noqa: E402
from audit.scale.ray_executor import RayExecutor  # noqa: E402
from audit.scale.work import ExplainWork, ModelSpec  # noqa: E402
from audit.store import AuditStore  # noqa: E402

pytestmark = pytest.mark.usefixtures("single_thread")

CASES = [
    {"template": "Income {income}, score {score}. Approve?", "variables": {"income": "$42,000", "score": "580"}},
    {"template": "Income {income}, score {score}. Approve?", "variables": {"income": "$95,000", "score": "760"}},
    {"template": "Debt {debt}, term {term}. Approve?", "variables": {"debt": "$3,000", "term": "12 months"}},
    {"template": "Savings {savings}. Approve?", "variables": {"savings": "$500"}},
]


@pytest.fixture(scope="module")
def cluster():
    context = ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    # Classes defined in this test module travel by value: workers cannot import tests/.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield context.address_info["gcs_address"]
    ray.shutdown()


@pytest.fixture(scope="module")
def pool(cluster, tiny_model_dir):
    """Two actors that load the tiny model once and serve every test (actor start-up is slow here).

    Half a CPU each, so the CLI test's own two workers fit on the same 2-CPU cluster.
    """
    executor = RayExecutor(_spec(tiny_model_dir), workers=2, cpus_per_worker=0.5, keep_alive=True)
    yield executor
    executor.close()


@pytest.fixture
def db(cases_db_copy: Path) -> Path:
    """A private copy of this module's CASES, recorded once (conftest ``cases_db``)."""
    return cases_db_copy


def _spec(tiny_model_dir: Path) -> ModelSpec:
    return ModelSpec(str(tiny_model_dir), "cpu", "float32")


def _by_record(db: Path) -> dict[str, list]:
    out: dict[str, list] = {}
    with AuditStore.open(db) as store:
        for explanation in store.explanations.list():
            out.setdefault(explanation.record_id, []).append(explanation)
    return out


def test_ray_explanations_equal_in_process_ones_exactly(pool, db, tmp_path, tiny_loaded):
    local_db = tmp_path / "local.db"
    shutil.copy(db, local_db)
    local = Auditor(db=local_db, model=tiny_loaded).explain_all(granularity="field")
    remote = Auditor(db=db, model=tiny_loaded).explain_all(granularity="field", executor=pool)
    assert (local.stored, remote.stored, remote.failed, remote.retried, remote.executor, remote.workers) == (
        4,
        4,
        0,
        0,
        "ray",
        2,
    )
    assert len(remote.per_worker) == 2 and sum(s.records for s in remote.per_worker.values()) == 4
    expected, got = _by_record(local_db), _by_record(db)
    assert sorted(expected) == sorted(got)
    for record_id, [reference] in expected.items():
        [result] = got[record_id]
        assert result.token_attr.tobytes() == reference.token_attr.tobytes()
        assert result.seq_attr.tobytes() == reference.seq_attr.tobytes()
        assert (result.features, result.params, result.extra["weights_sha256"]) == (
            reference.features,
            reference.params,
            reference.extra["weights_sha256"],
        )
    assert verify_database(db).ok
    again = Auditor(db=db, model=tiny_loaded).explain_all(granularity="field", executor=pool)
    assert (again.stored, again.already_done, again.todo) == (0, 4, 0)


@dataclass(frozen=True)
class CrashOnceWork(ExplainWork):
    """Kills its worker process the first time it meets ``crash_on`` (a marker file remembers)."""

    crash_on: str = ""
    marker: str = ""

    def compute(self, host, record):
        if record.id == self.crash_on and not os.path.exists(self.marker):
            Path(self.marker).write_text(str(os.getpid()))
            os._exit(1)
        return super().compute(host, record)


def test_killed_worker_is_restarted_and_its_record_retried_once(pool, db, tmp_path, tiny_loaded):
    from audit.attribution.request import check_request
    from audit.scale.driver import run_batch
    from audit.scale.pending import select_for_explain

    auditor = Auditor(db=db, model=tiny_loaded)
    records = auditor.list()
    marker = tmp_path / "crashed"
    request = check_request("feature-ablation", "token", {})
    work = CrashOnceWork(request, crash_on=records[1].id, marker=str(marker))
    with AuditStore.open(db) as store:
        selection = select_for_explain(store, records, request)
    summary = run_batch(db, work, selection, pool)
    assert marker.exists(), "the worker never crashed: the test proves nothing"
    assert (summary.stored, summary.failed, summary.retried, summary.duplicates) == (4, 0, 1, 0), summary.failures
    assert sum(s.retried for s in summary.per_worker.values()) == 1
    assert all(
        name.split(":")[1] != marker.read_text() for name in summary.per_worker if summary.per_worker[name].retried
    )
    stored = _by_record(db)
    assert sorted(stored) == sorted(r.id for r in records) and all(len(v) == 1 for v in stored.values())
    assert verify_database(db).ok


def test_interrupted_ray_run_resumes_without_duplicates(pool, db, tiny_loaded):
    auditor = Auditor(db=db, model=tiny_loaded)

    def interrupt(summary):
        if summary.stored == 1:
            raise KeyboardInterrupt

    first = auditor.explain_all(executor=pool, on_stored=interrupt)
    assert first.interrupted and first.stored == 1 and verify_database(db).ok
    second = auditor.explain_all(executor=pool)
    assert (second.already_done, second.stored, second.interrupted) == (1, 3, False)
    stored = _by_record(db)
    assert len(stored) == 4 and all(len(v) == 1 for v in stored.values())


def test_cli_replay_all_on_the_running_cluster(cluster, db, tiny_model_dir, cli):
    replay = cli(
        "replay",
        "--all",
        "--db",
        str(db),
        "--model",
        str(tiny_model_dir),
        "--executor",
        "ray",
        "--address",
        cluster,
        "--workers",
        "1",
        "--cpus-per-worker",
        "0.5",
        "--json",
        env={"OMP_NUM_THREADS": "1"},
    )
    assert replay.returncode == 0, replay.stderr
    out = json.loads(replay.stdout)
    assert out["counts"]["identical"] == 4 and out["summary"]["stored"] == 4
    assert (out["summary"]["executor"], out["summary"]["workers"], out["summary"]["failed"]) == ("ray", 1, 0)
    with AuditStore.open(db) as store:
        assert sorted(r.record_id for r in store.replays.iter()) == sorted(r.id for r in store.records.iter())
    assert verify_database(db).ok
