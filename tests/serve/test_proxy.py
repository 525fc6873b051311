"""``llm-audit proxy`` in front of a second ``llm-audit serve`` (the upstream), both real uvicorn servers.

The proxy's record of each completion must hold what the upstream's own log holds for it (ids,
text, log-probabilities and alternatives, seed, effective parameters, model identity), with and
without streaming, with and without client-requested log-probabilities; the client gets only
what it asked for. A proxied record replays against the upstream and, with the weights at hand,
locally. Upstream refusals pass through and record nothing.
"""

from __future__ import annotations

import httpx
import openai
import pytest

from audit.replay.config import RUN_KEYS
from audit.store import AuditStore
from tests.serve.serving import TIMEOUT, proxy, serve, snapshot

pytestmark = pytest.mark.usefixtures("single_thread")
CHAT = [{"role": "system", "content": "You are a credit analyst."}, {"role": "user", "content": "Approve the loan?"}]


@pytest.fixture(scope="module")
def upstream(tiny_loaded, tmp_path_factory):
    with serve(tmp_path_factory.mktemp("upstream") / "upstream.db", tiny_loaded, "proxy", model_name="tiny") as running:
        yield running


@pytest.fixture(scope="module")
def proxied(upstream, tiny_model_dir, tmp_path_factory):
    db = tmp_path_factory.mktemp("proxy") / "proxy.db"
    with proxy(db, upstream.base_url, upstream_key=upstream.key, model_path=tiny_model_dir) as running:
        yield running


def pair(proxied, upstream, receipt: dict):
    """The proxy's record and the upstream's record of the same completion."""
    mine = proxied.auditor.get(receipt["record_id"])
    theirs = upstream.auditor.get(mine.tags["proxy"]["upstream_receipt"]["record_id"])
    return mine, theirs


def assert_same_content(mine, theirs):
    assert mine.input_ids == theirs.input_ids and mine.prompt == theirs.prompt
    assert mine.output_ids == theirs.output_ids and mine.output_text == theirs.output_text
    assert mine.token_logprobs == theirs.token_logprobs
    for recorded, upstream_step in zip(mine.top_logprobs, theirs.top_logprobs, strict=True):
        assert [(a.token, a.logprob) for a in recorded] == [(a.token, a.logprob) for a in upstream_step]
        # ids where the wire carried them; an id-less text keeps a stand-in (< -1), never a wrong id
        assert all(a.token_id == b.token_id or a.token_id < -1 for a, b in zip(recorded, upstream_step))
    assert mine.seed == theirs.seed and mine.finish_reason == theirs.finish_reason
    decoding = {k: v for k, v in theirs.generation_config.items() if k not in RUN_KEYS}
    assert {k: v for k, v in mine.generation_config.items() if k not in RUN_KEYS} == decoding
    assert mine.model == theirs.model


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("logprobs", [False, True], ids=["no-logprobs", "logprobs"])
def test_the_proxy_records_what_the_upstream_logged_and_gives_the_client_what_it_asked(
    proxied, upstream, stream, logprobs
):
    asked = {"logprobs": True, "top_logprobs": 2} if logprobs else {}
    client = proxied.openai()
    if stream:
        chunks = list(client.chat.completions.create(model="tiny", messages=CHAT, max_tokens=6, stream=True, **asked))
        receipt = next(c.model_extra["llm_audit"] for c in chunks if c.model_extra.get("llm_audit"))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        given = [e for c in chunks if c.choices and c.choices[0].logprobs for e in c.choices[0].logprobs.content]
    else:
        response = client.chat.completions.create(model="tiny", messages=CHAT, max_tokens=6, **asked)
        receipt = response.model_extra["llm_audit"]
        text = response.choices[0].message.content
        given = response.choices[0].logprobs.content if response.choices[0].logprobs else []
    mine, theirs = pair(proxied, upstream, receipt)
    assert_same_content(mine, theirs)
    assert text == mine.output_text and mine.operator == "loan-app" and theirs.operator == "proxy"
    if logprobs:
        assert [e.logprob for e in given] == mine.token_logprobs
        assert [[(t.token, t.logprob) for t in e.top_logprobs] for e in given] == [
            [(a.token, a.logprob) for a in step[:2]] for step in mine.top_logprobs
        ]
    else:
        assert given == []  # asked upstream for the record's sake, removed for the client
    facts = mine.tags["proxy"]
    assert (
        facts["sent"]["logprobs"] is True and facts["sent"]["top_logprobs"] == 5 and facts["sent"]["seed"] == mine.seed
    )
    assert facts["known"]["output_ids"] == "upstream" and facts["known"]["input_ids"] == "upstream"
    assert facts["system_fingerprint"] == upstream.backend.fingerprint and facts["upstream_model"] == "tiny"
    with AuditStore.open(proxied.db) as store:
        assert receipt["record_hash"] == store.events.logged("generation", mine.id).payload_sha256
    assert proxied.auditor.verify().ok and upstream.auditor.verify().ok


def test_the_legacy_endpoint_through_the_proxy(proxied, upstream):
    response = proxied.openai().completions.create(model="tiny", prompt="Credit score 580, income", max_tokens=4)
    mine, theirs = pair(proxied, upstream, response.model_extra["llm_audit"])
    assert_same_content(mine, theirs)
    assert mine.prompt_kind == "text" and response.choices[0].logprobs is None


def test_a_proxied_record_replays_against_the_upstream_and_locally_on_matching_weights(
    proxied, upstream, cli, monkeypatch
):
    response = proxied.openai().chat.completions.create(model="tiny", messages=CHAT, max_tokens=5, temperature=1.0)
    record_id = response.model_extra["llm_audit"]["record_id"]
    monkeypatch.setenv("LLM_AUDIT_UPSTREAM_KEY", upstream.key)
    remote = proxied.auditor.replay(record_id, upstream=upstream.base_url)
    assert remote.verdict == "identical" and remote.model_matches and remote.extra["compared_by"] == "token ids"
    local = proxied.auditor.replay(record_id)  # the record's model is --model-path's folder, matched by hashes
    assert local.verdict == "identical" and local.model_matches
    result = cli(
        "replay",
        record_id,
        "--db",
        str(proxied.db),
        "--upstream",
        upstream.base_url,
        env={"LLM_AUDIT_UPSTREAM_KEY": upstream.key},
    )
    assert result.returncode == 0, result.stderr
    assert "verdict      identical" in result.stdout and "system_fingerprint" in result.stdout


def test_without_model_path_the_record_says_what_is_unknown_and_refuses_local_work(upstream, tmp_path, monkeypatch):
    with proxy(tmp_path / "bare.db", upstream.base_url, upstream_key=upstream.key) as bare:
        response = bare.openai().chat.completions.create(model="tiny", messages=CHAT, max_tokens=4)
        record = bare.auditor.get(response.model_extra["llm_audit"]["record_id"])
        known = record.tags["proxy"]["known"]
        assert record.model.weights_sha256 == {} and record.model.name == "tiny"
        assert known["model"] == "the upstream's model name (as its /v1/models lists it) only"
        assert known["prompt"].startswith("unknown") and record.prompt == "" and record.messages == CHAT
        assert record.input_ids == upstream.auditor.get(record.tags["proxy"]["upstream_receipt"]["record_id"]).input_ids
        with pytest.raises(Exception, match="without --model-path"):
            bare.auditor.explain(record.id)
        monkeypatch.setenv("LLM_AUDIT_UPSTREAM_KEY", upstream.key)
        assert bare.auditor.replay(record.id, upstream=upstream.base_url).verdict == "identical"


def test_upstream_refusals_pass_through_and_record_nothing(proxied, tmp_path):
    before = snapshot(proxied.db)
    refused = proxied.post("/v1/chat/completions", {"model": "gpt-4o", "messages": CHAT})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "model_not_found"
    with pytest.raises(openai.BadRequestError):
        proxied.openai().chat.completions.create(model="tiny", messages=CHAT, n=3)
    assert proxied.post("/v1/chat/completions", {"model": "tiny", "messages": CHAT}, key="lla_nope").status_code == 401
    assert snapshot(proxied.db) == before
    with proxy(tmp_path / "down.db", "http://127.0.0.1:9/v1") as down:  # nothing listens on the discard port
        before = snapshot(down.db)
        response = down.post("/v1/chat/completions", {"model": "tiny", "messages": CHAT})
        assert response.status_code == 502 and response.json()["error"]["type"] == "upstream_error"
        assert httpx.get(down.url + "/healthz", timeout=TIMEOUT).status_code == 503
        assert snapshot(down.db) == before
