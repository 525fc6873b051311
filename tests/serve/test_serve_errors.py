"""Every refusal of the server: the right status, an OpenAI-shaped body, and the database byte-for-byte unchanged.

Also the paths where nothing can be recorded (a read-only database, a failing write: 503 and no
completion), a full queue (429 with Retry-After, no partial record) and the API keys' lifecycle.
"""

from __future__ import annotations

import json
import sqlite3
import threading

import httpx
import openai
import pytest

from audit import spool
from audit.store import AuditStore
from audit.store.records import RecordRepository
from tests.serve.serving import (
    TIMEOUT,
    every_route_answers,
    every_route_refuses,
    serve,
    snapshot,
    sse_events,
    wait_for,
)

pytestmark = pytest.mark.usefixtures("single_thread")
CHAT = [{"role": "user", "content": "Approve the loan?"}]
OK = {"model": "tiny", "messages": CHAT, "max_tokens": 2}
LONG = " ".join(["income"] * 600)  # more tokens than the tiny model's context of 512


@pytest.fixture(scope="module")
def server(tiny_loaded, tmp_path_factory):
    with serve(tmp_path_factory.mktemp("errors") / "served.db", tiny_loaded, model_name="tiny") as running:
        running.post("/v1/chat/completions", OK).raise_for_status()  # the database exists and holds a record
        yield running


def refusal(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["message"]
    return body["error"]


BAD_REQUESTS = [
    ("unknown model", {**OK, "model": "gpt-4o"}, "model"),
    ("n above 1", {**OK, "n": 2}, "n"),
    ("temperature out of range", {**OK, "temperature": 2.5}, "temperature"),
    ("top_p out of range", {**OK, "top_p": 0}, "top_p"),
    ("negative seed", {**OK, "seed": -1}, "seed"),
    ("prompt longer than the context", {**OK, "messages": [{"role": "user", "content": LONG}]}, "messages"),
    ("token budget beyond the context", {**OK, "max_tokens": 5000}, "max_tokens"),
    ("wrong type: temperature", {**OK, "temperature": "hot"}, "temperature"),
    ("wrong type: max_tokens", {**OK, "max_tokens": "10"}, "max_tokens"),
    ("wrong type: messages", {**OK, "messages": "hello"}, "messages"),
    ("wrong type: stream", {**OK, "stream": "yes"}, "stream"),
    ("missing messages", {"model": "tiny"}, "messages"),
    ("empty messages", {**OK, "messages": []}, "messages"),
    ("unknown role", {**OK, "messages": [{"role": "robot", "content": "hi"}]}, "messages.0.role"),
    ("unknown parameter", {**OK, "best_guess": True}, "best_guess"),
    ("unhonoured penalty", {**OK, "frequency_penalty": 0.5}, "frequency_penalty"),
    ("unhonoured tools", {**OK, "tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
    ("more alternatives than recorded", {**OK, "logprobs": True, "top_logprobs": 6}, "top_logprobs"),
    ("top_logprobs without logprobs", {**OK, "top_logprobs": 2}, "top_logprobs"),
    ("a budget beyond any context", {**OK, "max_tokens": 2**64}, "max_tokens"),
    ("five stop sequences", {**OK, "stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ("two different budgets", {**OK, "max_tokens": 2, "max_completion_tokens": 3}, "max_completion_tokens"),
    ("variables without a template", {**OK, "llm_audit": {"variables": {"a": "1"}}}, "llm_audit"),
    (
        "template not matching the message",
        {**OK, "llm_audit": {"template": "Income {income}?", "variables": {"income": "1"}}},
        "messages",
    ),
    (
        "metadata variables not JSON",
        {**OK, "metadata": {"llm_audit.variables": "{income"}},
        "metadata.llm_audit.variables",
    ),
    ("reserved tag", {**OK, "llm_audit": {"tags": {"privacy": "x"}}}, "llm_audit.tags"),
    (
        "decision with one label",
        {**OK, "llm_audit": {"decision": {"labels": ["APPROVE"]}}},
        "llm_audit.decision.labels",
    ),
    (
        "favourable label not a label",
        {**OK, "llm_audit": {"decision": {"labels": ["A", "B"], "favourable": "C"}}},
        "llm_audit.decision",
    ),
]


@pytest.mark.parametrize("what,body,param", BAD_REQUESTS, ids=[case[0] for case in BAD_REQUESTS])
def test_an_invalid_request_is_a_400_naming_the_parameter_and_stores_nothing(server, what, body, param):
    before = snapshot(server.db)
    error = refusal(server.post("/v1/chat/completions", body), 400)
    assert error["type"] == "invalid_request_error"
    if param is not None:
        assert error["param"] == param
    assert snapshot(server.db) == before


def test_a_too_long_prompt_is_a_400_for_a_stream_too_and_names_the_context(server):
    before = snapshot(server.db)
    body = {**OK, "stream": True, "messages": [{"role": "user", "content": LONG}]}
    error = refusal(server.post("/v1/chat/completions", body), 400)
    assert "context of 512" in error["message"]
    assert snapshot(server.db) == before


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"",
        b"[1, 2]",
        '{"model": "tiny", "messages": [{"role": "user", "content": "\udcff"}]'.encode("utf-8", "surrogatepass"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_a_400(server, raw):
    before = snapshot(server.db)
    refusal(server.post("/v1/chat/completions", raw=raw), 400)
    assert snapshot(server.db) == before


def test_without_a_valid_key_every_endpoint_but_health_and_metrics_is_a_401(server):
    before = snapshot(server.db)
    for headers in (
        {},
        {"Authorization": "Bearer lla_wrong"},
        {"Authorization": "Basic abc"},
        {"Authorization": server.key},
    ):
        response = httpx.post(server.url + "/v1/chat/completions", json=OK, headers=headers, timeout=TIMEOUT)
        assert refusal(response, 401)["code"] == "invalid_api_key"
        assert refusal(httpx.get(server.url + "/v1/models", headers=headers, timeout=TIMEOUT), 401)
    assert httpx.get(server.url + "/healthz", timeout=TIMEOUT).status_code == 200
    assert httpx.get(server.url + "/metrics", timeout=TIMEOUT).status_code == 200
    assert snapshot(server.db) == before


def test_unknown_paths_and_methods_are_openai_shaped(server):
    before = snapshot(server.db)
    refusal(httpx.post(server.url + "/v1/embeddings", json={}, headers=server.headers(), timeout=TIMEOUT), 404)
    refusal(httpx.get(server.url + "/v1/chat/completions", headers=server.headers(), timeout=TIMEOUT), 405)
    assert snapshot(server.db) == before


def test_a_revoked_key_is_refused_at_once_and_keys_are_logged_events(server):
    key = server.auditor.api_keys.add("teller-3")
    assert server.post("/v1/chat/completions", OK, key=key).status_code == 200
    server.auditor.api_keys.revoke("teller-3", "left the bank")
    before = snapshot(server.db)
    assert refusal(server.post("/v1/chat/completions", OK, key=key), 401)["code"] == "invalid_api_key"
    assert snapshot(server.db) == before
    with AuditStore.open(server.db) as store:
        events = [e.payload for e in store.events.iter(kind="api-key")]
    assert [(e["name"], e["action"]) for e in events if e["name"] == "teller-3"] == [
        ("teller-3", "add"),
        ("teller-3", "revoke"),
    ]
    assert key.encode() not in server.db.read_bytes() and server.auditor.verify().ok


def test_a_database_that_cannot_take_the_record_gives_503_and_no_completion(server):
    before = snapshot(server.db)
    server.db.chmod(0o444)
    try:
        error = refusal(server.post("/v1/chat/completions", OK), 503)
        assert error["code"] == "record_not_stored" and "read-only" in error["message"]
        streamed = server.post("/v1/chat/completions", {**OK, "stream": True})
        assert refusal(streamed, 503)["code"] == "record_not_stored"
        every_route_refuses(server, "read-only", model="tiny")  # every route of the app, /metrics with its text
    finally:
        server.db.chmod(0o644)
    assert snapshot(server.db) == before
    every_route_answers(server)


def test_a_failing_write_after_generation_gives_503_or_a_stream_error_and_nothing_stored(server, monkeypatch):
    def broken(*args, **kwargs):
        raise sqlite3.OperationalError("disk I/O error")

    before = snapshot(server.db)
    kept = set(spool.entries(server.db))
    monkeypatch.setattr(RecordRepository, "append", broken)
    error = refusal(server.post("/v1/chat/completions", OK), 503)
    assert "disk I/O error" in error["message"] and str(server.db.parent) not in error["message"]
    with httpx.stream(
        "POST",
        server.url + "/v1/chat/completions",
        json={**OK, "stream": True},
        headers=server.headers(),
        timeout=TIMEOUT,
    ) as r:
        events = sse_events(r)
    assert "[DONE]" not in events and events[-1]["error"]["code"] == "record_not_stored"
    assert not any(isinstance(e, dict) and e.get("llm_audit") for e in events)
    with pytest.raises(openai.APIError):
        list(server.openai().chat.completions.create(model="tiny", messages=CHAT, max_tokens=2, stream=True))
    monkeypatch.undo()
    assert snapshot(server.db) == before
    # each computed record is kept in the pending journal, saying its client was refused
    refused = [json.loads(p.read_text())["item"] for p in set(spool.entries(server.db)) - kept]
    assert len(refused) == 3 and all(r["tags"]["serve"]["delivery"]["state"] == "refused" for r in refused)
    for path in set(spool.entries(server.db)) - kept:
        path.unlink()


def test_a_full_queue_answers_429_with_retry_after_and_leaves_no_partial_record(tiny_loaded, tmp_path):
    with serve(tmp_path / "queue.db", tiny_loaded, model_name="tiny", queue_size=1) as small:
        worker = small.backend.worker
        results: list[httpx.Response] = []

        def call() -> None:
            results.append(small.post("/v1/chat/completions", OK))

        with worker.model_lock:  # the model is busy: the first request waits in generation, the second in the queue
            threads = [threading.Thread(target=call) for _ in range(2)]
            threads[0].start()
            wait_for(lambda: worker.busy, what="the first request to reach the model")
            threads[1].start()
            wait_for(lambda: worker.jobs.qsize() == 1, what="the second request to queue")
            before = snapshot(small.db)
            full = small.post("/v1/chat/completions", OK)
            assert refusal(full, 429)["code"] == "queue_full" and int(full.headers["Retry-After"]) >= 1
            with pytest.raises(openai.RateLimitError):
                small.openai().chat.completions.create(model="tiny", messages=CHAT, max_tokens=2)
            assert snapshot(small.db) == before
        for thread in threads:
            thread.join(TIMEOUT)
        assert [r.status_code for r in results] == [200, 200]
        stored = small.auditor.list()
        assert sorted(r.id for r in stored) == sorted(r.json()["llm_audit"]["record_id"] for r in results)
        assert small.auditor.verify().ok


@pytest.mark.parametrize("body", [{"messages": [{"role": "user", "content": LONG}]}, {"max_tokens": 5000}])
def test_context_checks_answer_before_the_queue_while_the_model_is_busy(server, body):
    """Held model lock: a request that reached the model queue would wait behind it; the context check does not."""
    before = snapshot(server.db)
    with server.backend.worker.model_lock:
        error = refusal(server.post("/v1/chat/completions", {**OK, **body}), 400)
    assert error["param"] == ("messages" if "messages" in body else "max_tokens")
    assert snapshot(server.db) == before


def test_every_served_record_says_how_its_answer_was_delivered(server):
    whole = server.post("/v1/chat/completions", OK).json()["llm_audit"]["record_id"]
    with httpx.stream(
        "POST",
        server.url + "/v1/chat/completions",
        json={**OK, "stream": True},
        headers=server.headers(),
        timeout=TIMEOUT,
    ) as response:
        events = sse_events(response)
    streamed = next(e["llm_audit"]["record_id"] for e in events if isinstance(e, dict) and e.get("llm_audit"))
    texts = [e for e in events if isinstance(e, dict) and e.get("choices") and e["choices"][0]["delta"].get("content")]
    assert server.auditor.get(whole).tags["serve"]["delivery"] == {"state": "answered_after_commit"}
    delivery = server.auditor.get(streamed).tags["serve"]["delivery"]
    assert delivery["state"] == "streamed" and delivery["chunks"] <= len(texts)
