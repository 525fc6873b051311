"""The group-commit writer of ``serve`` and ``proxy``: every record waiting in one transaction, one checkpoint.

Records queued together are stored together (checked by the automatic checkpoint rule, which signs once
per batch, not once per ten records), each request answered with the payload hash its event logged; a
record that fails by itself (a duplicate id) is rolled back and refused alone while the rest commit.
"""

from __future__ import annotations

import time

import pytest

from audit import Auditor
from audit.ids import uuid7
from audit.recording import GenerationRequest
from audit.serve import group_commit
from audit.serve.group_commit import GroupWriter
from audit.serve.metrics import Metrics
from audit.store import AuditStore
from audit.traffic.answer import Answer
from audit.traffic.proxied import proxied_record
from tests.serve.serving import wait_for


def proxied(i: int, record_id: str | None = None):
    request = GenerationRequest.build(
        operator="batch",
        messages=[{"role": "user", "content": f"question {i}"}],
        seed=i,
        tags={"serve": {}},
        record_id=record_id or uuid7(),
    )
    answer = Answer()
    content = [{"token": t, "logprob": -0.5, "id": 10 + n, "top_logprobs": []} for n, t in enumerate(["a", "b"])]
    message = {"role": "assistant", "content": "ab"}
    answer.add_chunk({"model": "m", "choices": [{"message": message, "logprobs": {"content": content}}]}, True)
    now = time.time()
    return proxied_record(
        request, started=now, finished=now, answer=answer, upstream="http://u/v1", sent={}, weights=None, model_name="m"
    )


@pytest.mark.parametrize("size", [1, 25, 60])
def test_a_batch_is_one_transaction_with_one_checkpoint_and_a_bad_record_is_refused_alone(tmp_path, monkeypatch, size):
    monkeypatch.setenv("LLM_AUDIT_CHECKPOINT_EVERY", "10")
    db = tmp_path / "batch.db"
    Auditor(db=db).api_keys.add("k")
    with AuditStore.open(db) as store:
        signed_before = len(store.checkpoints.all())
    good = [proxied(i) for i in range(size)]
    duplicate = proxied(999, record_id=good[0].id)  # the same id: the table's UNIQUE refuses it alone
    answers: dict[str, tuple] = {}
    writer = GroupWriter(db, None, Metrics(db))
    for n, record in enumerate([*good, duplicate]):
        writer.submit(record, lambda h, e, n=n: answers.__setitem__(n, (h, e)))
    writer.start()  # everything is queued before the writer wakes: one batch
    writer.stop()
    writer.join(60)
    assert len(answers) == size + 1 and all(answers[n][1] is None for n in range(size))
    assert answers[size][0] is None and answers[size][1].status == 503  # the duplicate, refused alone
    with AuditStore.open(db) as store:
        assert store.records.count() == size
        for n, record in enumerate(good):
            assert answers[n][0] == store.events.logged("generation", record.id).payload_sha256
        new = len(store.checkpoints.all()) - signed_before
    assert new == (1 if size + 1 >= 10 else 0)  # per record, 25 records would have signed twice, 60 six times
    assert Auditor(db=db).verify().ok


def batches(metrics: Metrics) -> float:
    return metrics.registry.get_sample_value("llm_audit_record_batches_total")


def _writer(tmp_path, monkeypatch, expected):
    monkeypatch.setattr(group_commit, "LINGER", 60.0)  # a linger that happened would outlast wait_for's bound
    db = tmp_path / "linger.db"
    Auditor(db=db).api_keys.add("k")
    metrics = Metrics(db)
    return GroupWriter(db, None, metrics, expected=expected), metrics


def test_a_lone_request_is_committed_at_once_and_records_on_their_way_join_its_batch(tmp_path, monkeypatch):
    """With one request in flight the writer commits it without waiting; with two, the first waits for the second
    and both go in one transaction (without the linger the first, already taken, would commit alone)."""
    answers: dict[int, tuple] = {}
    in_flight = {"n": 1}
    writer, metrics = _writer(tmp_path, monkeypatch, lambda: in_flight["n"])
    writer.start()
    try:
        writer.submit(proxied(0), lambda h, e: answers.__setitem__(0, (h, e)))
        wait_for(lambda: 0 in answers, what="the lone record's commit")
        assert answers[0][1] is None and batches(metrics) == 1

        in_flight["n"] = 2
        writer.submit(proxied(1), lambda h, e: answers.__setitem__(1, (h, e)))
        wait_for(writer.pending.empty, what="the writer to take the first record")
        assert 1 not in answers  # lingering for the second, which is on its way
        writer.submit(proxied(2), lambda h, e: answers.__setitem__(2, (h, e)))
        wait_for(lambda: 1 in answers and 2 in answers, what="the batch of two")
    finally:
        writer.stop()
        writer.join(60)
    assert answers[1][1] is None and answers[2][1] is None
    assert batches(metrics) == 2 and metrics.registry.get_sample_value("llm_audit_records_written_total") == 3
