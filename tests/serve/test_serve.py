"""``llm-audit serve``: a real uvicorn server on a loopback port, driven by the official openai client.

Each completion must give exactly one record whose ids, text and log-probabilities are what the
client received, recorded exactly as ``Auditor.generate`` records the same request; the chain
verifies and a served record replays ``identical``. One server for the module (tiny model).
"""

from __future__ import annotations

import asyncio

import httpx
import openai
import pytest

from audit import Auditor
from audit.store import AuditStore
from tests.serve.serving import TIMEOUT, serve, sse_events, wait_for

pytestmark = pytest.mark.usefixtures("single_thread")
CHAT = [{"role": "system", "content": "You are a credit analyst."}, {"role": "user", "content": "Approve the loan?"}]


@pytest.fixture(scope="module")
def server(tiny_loaded, tmp_path_factory):
    with serve(tmp_path_factory.mktemp("serve") / "served.db", tiny_loaded, model_name="tiny-credit") as running:
        yield running


def records(server) -> dict:
    return {record.id: record for record in server.auditor.list()}


def stored(server, record_id: str):
    """The record if it is committed, else None (one indexed read: cheap enough to poll)."""
    with AuditStore.open(server.db) as store:
        return store.records.get(record_id) if store.events.logged("generation", record_id) else None


def logged_hash(server, record_id: str) -> str:
    with AuditStore.open(server.db) as store:
        return store.events.logged("generation", record_id).payload_sha256


def test_a_chat_completion_is_one_record_equal_to_what_the_client_received(server):
    before = records(server)
    raw = server.openai().chat.completions.with_raw_response.create(
        model="tiny-credit", messages=CHAT, max_tokens=6, logprobs=True, top_logprobs=3, temperature=0
    )
    response = raw.parse()
    receipt = response.model_extra["llm_audit"]
    new = {k: v for k, v in records(server).items() if k not in before}
    assert list(new) == [receipt["record_id"]] == [raw.headers["x-llm-audit-record-id"]]
    record = new[receipt["record_id"]]
    choice = response.choices[0]
    assert choice.message.content == record.output_text
    content = choice.logprobs.content
    assert [c.model_extra["id"] for c in content] == record.output_ids
    assert [c.logprob for c in content] == record.token_logprobs
    assert [[(t.model_extra["id"], t.logprob) for t in c.top_logprobs] for c in content] == [
        [(a.token_id, a.logprob) for a in step[:3]] for step in record.top_logprobs
    ]
    assert response.usage.prompt_tokens == len(record.input_ids)
    assert response.usage.completion_tokens == len(record.output_ids) == 6
    assert receipt["record_hash"] == logged_hash(server, record.id)
    assert receipt["seed"] == record.seed and record.operator == receipt["operator"] == "loan-app"
    assert record.tags["serve"]["seed_chosen_by"] == "server"
    assert response.system_fingerprint.startswith("fp_") and response.id == record.tags["serve"]["completion_id"]
    assert choice.finish_reason == "length"


def test_a_served_record_is_the_record_auditor_generate_makes(server, tiny_loaded, tmp_path):
    response = server.openai().chat.completions.create(
        model="tiny-credit", messages=CHAT, max_tokens=5, temperature=0.8, seed=1234
    )
    served = server.auditor.get(response.model_extra["llm_audit"]["record_id"])
    direct = Auditor(db=tmp_path / "direct.db", model=tiny_loaded, operator="loan-app").generate(
        messages=CHAT, max_new_tokens=5, temperature=0.8, seed=1234
    )
    ignore = {"id", "seq", "started_at", "finished_at", "duration_s", "tags", "environment"}
    assert {k: v for k, v in served.to_dict().items() if k not in ignore} == {
        k: v for k, v in direct.to_dict().items() if k not in ignore
    }
    assert served.generation_config["do_sample"] is True and served.seed == 1234


def test_sync_async_and_streamed_records_verify_and_replay_identical(server):
    client = server.openai()
    sampled = client.chat.completions.create(model="tiny-credit", messages=CHAT, max_tokens=5, temperature=1.0)
    text = client.completions.create(model="tiny-credit", prompt="Credit score 580, income", max_tokens=4)

    async def two():
        client = server.async_openai()
        return await asyncio.gather(
            *(client.chat.completions.create(model="tiny-credit", messages=CHAT, max_tokens=4) for _ in range(2))
        )

    async_ids = [r.model_extra["llm_audit"]["record_id"] for r in asyncio.run(two())]
    stream = client.chat.completions.create(model="tiny-credit", messages=CHAT, max_tokens=5, stream=True)
    streamed_id = [c.model_extra.get("llm_audit") for c in stream if c.model_extra.get("llm_audit")][0]["record_id"]
    ids = [sampled.model_extra["llm_audit"]["record_id"], text.model_extra["llm_audit"]["record_id"], *async_ids]
    assert server.auditor.verify().ok
    for record_id in [*ids, streamed_id]:
        assert server.auditor.replay(record_id).verdict == "identical"


def test_a_stream_yields_tokens_then_the_recorded_logprobs_after_the_commit(server):
    before = records(server)
    body = {
        "model": "tiny-credit",
        "messages": CHAT,
        "max_tokens": 8,
        "stream": True,
        "logprobs": True,
        "top_logprobs": 2,
        "stream_options": {"include_usage": True},
    }
    with httpx.stream(
        "POST", server.url + "/v1/chat/completions", json=body, headers=server.headers(), timeout=TIMEOUT
    ) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        header_id = r.headers["x-llm-audit-record-id"]
        events = sse_events(r)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    final = next(c for c in chunks if c.get("llm_audit"))
    record_id = final["llm_audit"]["record_id"]
    assert record_id == header_id and set(records(server)) - set(before) == {record_id}
    record = server.auditor.get(record_id)
    pieces = [c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]]
    assert "".join(pieces) == record.output_text
    assert len([p for p in pieces if p]) >= 2  # the text came in pieces, as generated
    content = final["choices"][0]["logprobs"]["content"]
    assert [(c["id"], c["logprob"]) for c in content] == list(zip(record.output_ids, record.token_logprobs))
    assert [[a["id"] for a in c["top_logprobs"]] for c in content] == [
        [a.token_id for a in s[:2]] for s in record.top_logprobs
    ]
    assert chunks[-1]["usage"]["completion_tokens"] == len(record.output_ids)
    text_chunks = [
        c
        for c in chunks
        if c["choices"] and not c["choices"][0]["finish_reason"] and "role" not in c["choices"][0]["delta"]
    ]
    assert record.tags["serve"]["stream"] == {"client_disconnected": False, "chunks_sent": len(text_chunks)}
    assert final["llm_audit"]["record_hash"] == logged_hash(server, record_id)


def test_the_legacy_completions_endpoint_and_token_ids(server):
    response = server.post(
        "/v1/completions",
        {"model": "tiny-credit", "prompt": "Income 42000,", "max_tokens": 4, "logprobs": 2, "return_token_ids": True},
    ).json()
    record = server.auditor.get(response["llm_audit"]["record_id"])
    choice = response["choices"][0]
    assert choice["text"] == record.output_text and choice["token_ids"] == record.output_ids
    assert response["prompt_token_ids"] == record.input_ids and record.prompt_kind == "text"
    assert choice["logprobs"]["token_logprobs"] == record.token_logprobs
    assert choice["logprobs"]["text_offset"][0] == 0
    assert [list(t) for t in choice["logprobs"]["top_logprobs"]] == [
        [a.token for a in s[:2]] for s in record.top_logprobs
    ]


def test_audit_context_makes_a_template_record_explainable_by_field(server):
    template = "Annual income {income}, credit score {score}. Approve?"
    variables = {"income": "$42,000", "score": "580"}
    messages = [CHAT[0], {"role": "user", "content": template.format(**variables)}]
    response = server.openai().chat.completions.create(
        model="tiny-credit",
        messages=messages,
        max_tokens=3,
        metadata={"llm_audit.use_case": "credit-decision", "branch": "Leeds"},
        user="customer-7f3a",
        extra_body={"llm_audit": {"template": template, "variables": variables, "tags": {"product": "loan"}}},
    )
    record = server.auditor.get(response.model_extra["llm_audit"]["record_id"])
    assert record.prompt_kind == "template" and record.template == template and record.variables == variables
    assert record.system == CHAT[0]["content"] and record.use_case == "credit-decision"
    assert record.tags["content"] == {"user": "customer-7f3a", "metadata": {"branch": "Leeds"}}
    assert record.tags["product"] == "loan"
    explanation = server.auditor.explain(record.id, granularity="field")
    assert explanation.features == ["income", "score"]


def test_stop_sequences_are_recorded_so_the_replay_stops_at_the_same_place(server):
    probe = server.openai().chat.completions.create(model="tiny-credit", messages=CHAT, max_tokens=8, temperature=0)
    stop = probe.choices[0].message.content[6:9]  # three characters the greedy output will produce
    response = server.openai().chat.completions.create(
        model="tiny-credit", messages=CHAT, max_tokens=8, temperature=0, stop=[stop, "\n\n"]
    )
    record = server.auditor.get(response.model_extra["llm_audit"]["record_id"])
    assert record.generation_config["stop_strings"] == [stop, "\n\n"]
    assert record.finish_reason == "stop" and response.choices[0].finish_reason == "stop"
    assert stop in record.output_text and stop not in response.choices[0].message.content
    assert record.output_text.startswith(response.choices[0].message.content)
    assert server.auditor.replay(record.id).verdict == "identical"


def test_sixteen_concurrent_clients_give_sixteen_records_and_a_chain_that_verifies(server):
    before = records(server)

    async def sixteen():
        client = server.async_openai()
        calls = [
            client.chat.completions.create(
                model="tiny-credit", messages=[{"role": "user", "content": f"Client {i}: approve?"}], max_tokens=4
            )
            for i in range(16)
        ]
        return await asyncio.gather(*calls)

    responses = asyncio.run(sixteen())
    ids = [r.model_extra["llm_audit"]["record_id"] for r in responses]
    new = {k: v for k, v in records(server).items() if k not in before}
    assert sorted(ids) == sorted(new) and len(set(ids)) == 16
    for response in responses:
        record = new[response.model_extra["llm_audit"]["record_id"]]
        assert (
            record.messages[-1]["content"] in record.prompt
            and response.choices[0].message.content == record.output_text
        )
    result = server.auditor.verify()
    assert result.ok, result.summary()


def test_a_client_that_leaves_mid_stream_still_gets_its_generation_recorded(server):
    before = records(server)
    body = {"model": "tiny-credit", "messages": CHAT, "max_tokens": 80, "stream": True}
    with httpx.stream(
        "POST", server.url + "/v1/chat/completions", json=body, headers=server.headers(), timeout=TIMEOUT
    ) as r:
        record_id = r.headers["x-llm-audit-record-id"]
        next(r.iter_lines())  # the first chunk, then the client goes away
    record = wait_for(lambda: stored(server, record_id), what="the abandoned stream's record")
    assert record_id not in before
    assert record.tags["serve"]["stream"]["client_disconnected"] is True
    assert record.finish_reason in ("eos", "length") and len(record.output_ids) == len(record.token_logprobs)


def test_models_health_and_metrics(server):
    models = server.openai().models.list()
    assert [m.id for m in models.data] == ["tiny-credit"]
    health = httpx.get(server.url + "/healthz", timeout=TIMEOUT).json()
    assert health["status"] == "ok" and health["model"] == "tiny-credit" and health["queue_depth"] == 0
    server.openai().chat.completions.create(model="tiny-credit", messages=CHAT, max_tokens=2)
    text = httpx.get(server.url + "/metrics", timeout=TIMEOUT).text
    written = len(server.auditor.list())
    assert f"llm_audit_records_written_total {float(written)}" in text
    assert 'llm_audit_requests_total{endpoint="/v1/chat/completions",status="200"}' in text
    assert "llm_audit_request_seconds_bucket" in text and "llm_audit_queue_depth 0.0" in text
    with AuditStore.open(server.db) as store:
        lag = store.events.count() - store.checkpoints.signed_size()
    assert f"llm_audit_checkpoint_lag_events {float(lag)}" in text  # events not yet covered by a checkpoint


def test_a_decision_specification_is_scored_recorded_and_returned(server):
    bad = server.post(
        "/v1/chat/completions",
        {"model": "tiny-credit", "messages": CHAT, "llm_audit": {"decision": {"labels": ["APPROVE"]}}},
    )
    assert bad.status_code == 400 and bad.json()["error"]["param"].startswith("llm_audit.decision")
    spec = {"labels": ["APPROVE", "DECLINE"], "favourable": "APPROVE", "mode": "constrained"}
    response = server.post(
        "/v1/chat/completions",
        {"model": "tiny-credit", "messages": CHAT, "max_tokens": 4, "llm_audit": {"decision": spec}},
    )
    assert response.status_code == 200, response.text
    receipt = response.json()["llm_audit"]
    decision = server.auditor.get(receipt["record_id"]).decision
    assert decision is not None and decision.mode == "constrained" and decision.labels == ["APPROVE", "DECLINE"]
    assert receipt["decision"]["chosen"] == decision.chosen and receipt["decision"]["margin"] == decision.margin
    assert abs(sum(receipt["decision"]["probabilities"].values()) - 1) < 1e-9
    # Constrained: the answer starts with the chosen label's tokens, so the text states it.
    assert decision.agrees and decision.stated == decision.chosen
    prefix = server.post(
        "/v1/chat/completions",
        {
            "model": "tiny-credit",
            "messages": CHAT,
            "llm_audit": {"decision": {**spec, "labels": ["YES", "YES SIR"], "favourable": "YES"}},
        },
    )
    assert prefix.status_code == 400 and prefix.json()["error"]["param"] == "llm_audit.decision.labels"


def test_the_openai_client_raises_the_matching_errors(server):
    client = server.openai()
    with pytest.raises(openai.AuthenticationError):
        server.openai(key="lla_not-a-key").chat.completions.create(model="tiny-credit", messages=CHAT)
    with pytest.raises(openai.BadRequestError, match="n must be 1"):
        client.chat.completions.create(model="tiny-credit", messages=CHAT, n=2)
    with pytest.raises(openai.BadRequestError, match="not served here"):
        client.chat.completions.create(model="gpt-4o", messages=CHAT)
