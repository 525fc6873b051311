"""Explanations persist, reload bit-identical, log an event, and bad input stores nothing."""

from __future__ import annotations

import json

import numpy as np
import pytest

from audit import Auditor
from audit.attribution.result import JSON_KEYS
from audit.store import AuditStore

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def stored(tiny_loaded, tmp_path_factory):
    db = tmp_path_factory.mktemp("explain") / "audit.db"
    auditor = Auditor(db=db, model=tiny_loaded)
    record = auditor.generate(
        system="Credit analyst.",
        template="Income {income}, score {score}. Approve?",
        variables={"income": "$42,000", "score": "580"},
        max_new_tokens=4,
    )
    text = auditor.generate(prompt="Income 42000, score 580. Approve?", max_new_tokens=3)
    return db, auditor, record, text


def test_explanation_reloads_bit_identical_with_event(stored):
    db, auditor, record, _ = stored
    result = auditor.explain(record.id[:13], method="integrated-gradients", granularity="field", n_steps=4)
    with AuditStore.open(db) as store:
        again = store.explanations.latest(record.id)
        by_id = store.explanations.get(result.id)
        events = [e for e in store.events.iter(subject_id=result.id)]
        blob = store.db.execute(
            "SELECT dtype, shape FROM blobs WHERE sha256 = ?", [events[0].payload["token_attr_sha256"]]
        ).fetchone()
        projected = store.evidence["explanation"].payload(result.id)
    for loaded in (again, by_id):
        assert loaded.token_attr.dtype == np.float32 and loaded.token_attr.tobytes() == result.token_attr.tobytes()
        assert loaded.seq_attr.tobytes() == result.seq_attr.tobytes()
        assert loaded.to_json_dict() == result.to_json_dict()
        assert (loaded.convergence_delta, loaded.logprob_max_diff, loaded.extra, loaded.id, loaded.created_at) == (
            result.convergence_delta,
            result.logprob_max_diff,
            result.extra,
            result.id,
            result.created_at,
        )
    assert result.record_id == record.id and result.features == ["income", "score"]
    assert [e.kind for e in events] == ["explanation"] and events[0].payload == projected
    assert blob == ("float32", f"{len(record.output_ids)},2")  # arrays as typed blobs, not JSON lists
    assert events[0].payload["params"]["n_steps"] == 4


def test_latest_filters_by_method_and_granularity(stored):
    db, auditor, record, _ = stored
    first = auditor.explain(record.id, method="gradient-x-input", granularity="token")
    second = auditor.explain(record.id, method="feature-ablation", granularity="segment")
    with AuditStore.open(db) as store:
        assert store.explanations.latest(record.id).id == second.id
        assert store.explanations.latest(record.id, method="gradient-x-input").id == first.id
        assert store.explanations.latest(record.id, granularity="segment").features == ["system", "user"]
        assert store.explanations.latest(record.id, method="lime") is None
    assert second.id in [e.id for e in auditor.explanations(record.id)]
    assert auditor.explanation(first.id).method == "gradient-x-input"


def test_seeded_methods_repeat_exactly(stored):
    _, auditor, record, _ = stored
    a = auditor.explain(record.id, method="shapley-sampling", granularity="field", n_samples=3, perturbation_seed=7)
    b = auditor.explain(record.id, method="shapley-sampling", granularity="field", n_samples=3, perturbation_seed=7)
    assert a.token_attr.tobytes() == b.token_attr.tobytes() and a.params["perturbation_seed"] == 7


@pytest.mark.parametrize(
    "args, message",
    [
        (["--method", "saliency"], "unknown attribution method 'saliency'"),
        (["--granularity", "field", "TEXT"], "has no template, so no fields"),
        (["NOSUCH"], "no record with id"),
    ],
)
def test_cli_bad_input_one_line_exit_2_nothing_stored(stored, cli_fast, tiny_model_dir, args, message):
    db, _, record, text = stored
    target = text.id if "TEXT" in args else "01234567-no-such-record" if "NOSUCH" in args else record.id
    args = [a for a in args if a not in ("TEXT", "NOSUCH")]
    before = db.read_bytes()
    proc = cli_fast("explain", target, *args, "--db", str(db), "--model", str(tiny_model_dir))
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and message in proc.stderr, proc.stderr
    assert db.read_bytes() == before


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"granularity": "word"}, "unknown granularity 'word'"),
        ({"method": "integrated-gradients", "n_steps": 0}, "n-steps must be an integer >= 2"),
        ({"method": "lime", "n_samples": -1}, "n-samples must be an integer >= 1"),
        ({"n_steps": 5}, "feature-ablation takes no parameter n_steps"),
        ({"granularity": "segment", "TEXT": True}, "without chat segments"),
    ],
)
def test_api_bad_input_raises_user_error_nothing_stored(stored, kwargs, message):
    from audit.errors import UserError

    db, auditor, record, text = stored
    target = text.id if kwargs.pop("TEXT", False) else record.id
    before = db.read_bytes()
    with pytest.raises(UserError, match=message):
        auditor.explain(target, **kwargs)
    assert db.read_bytes() == before


def test_cli_json_prints_exactly_the_contract_keys(stored, cli, tiny_model_dir):
    db, _, _, text = stored
    proc = cli(
        "explain", text.id, "--method", "gradient-x-input", "--json", "--db", str(db), "--model", str(tiny_model_dir)
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert tuple(data) == JSON_KEYS
    assert data["record_id"] == text.id and data["granularity"] == "token"
    assert np.array(data["token_attr"]).shape == (len(text.output_ids), len(data["features"]))
    with AuditStore.open(db) as store:
        assert store.explanations.latest(text.id).to_json_dict()["token_attr"] == data["token_attr"]
