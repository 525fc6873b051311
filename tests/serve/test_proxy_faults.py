"""The recording proxy under faults, through the official openai client: each fault answered as what it is.

A full disk (a small tmpfs mounted here), a read-only database and a write lock held past
``$LLM_AUDIT_LOCK_TIMEOUT`` answer 503 naming the cause on every route of the app (enumerated from
``app.routes``, not listed by hand: ``/metrics`` with its whole text and ``llm_audit_database_writable 0``),
never 500; a completion the upstream
computed but the database refused is kept in the pending journal marked ``refused`` and restored by
``append-pending``. A client that leaves mid-stream, an upstream that breaks off mid-stream and an
upstream that echoes any model name are each recorded as what happened. Every test counts the records
against the answers the clients got (receipts) and verifies the log.
"""

from __future__ import annotations

import json
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import openai
import pytest

from audit import Auditor
from audit.web.background import BackgroundServer, free_port
from tests.serve.faulty_upstream import MODEL, RAW, TOKENS, FaultyUpstream
from tests.serve.serving import TIMEOUT, every_route_answers, every_route_refuses, proxy, wait_for

pytestmark = pytest.mark.usefixtures("single_thread")
COMPLETIONS = ("/v1/chat/completions", "/v1/completions")


def ask(text: str, **extra) -> dict:
    return {"model": "any-name", "messages": [{"role": "user", "content": text}], "max_tokens": 6, **extra}


@pytest.fixture(scope="module")
def upstream():
    faulty = FaultyUpstream()
    with BackgroundServer(faulty.app) as server:
        faulty.url = server.url + "/v1"
        yield faulty


def records(db: Path) -> list:
    return Auditor(db=db).list(limit=1000)


def accounted(db: Path, receipts: list[dict], restored: int = 0) -> list:
    """Every receipt has its record, nothing else is stored but ``restored`` others (journaled, or known to the
    test otherwise), and the log verifies."""
    stored = records(db)
    ids = {r.id for r in stored}
    assert {receipt["record_id"] for receipt in receipts} <= ids
    assert len(stored) == len(receipts) + restored
    assert Auditor(db=db).verify().ok
    return stored


def refused(response: httpx.Response, *words: str) -> str:
    assert response.status_code == 503, response.text
    message = response.json()["error"]["message"]
    assert all(word in message for word in words), message
    assert "/tmp" not in message and "/root" not in message  # no server paths
    return message


@pytest.fixture
def small_disk(tmp_path: Path):
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.decode().strip()}): the full-disk test needs root")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path) -> Path:
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
        except OSError:
            pass
    return filler


def test_a_full_disk_is_a_503_saying_so_everywhere_and_nothing_computed_is_lost(upstream, small_disk):
    db = small_disk / "proxy.db"
    with proxy(db, upstream.url) as running:
        client = running.openai()
        receipts = [client.chat.completions.create(**ask("hello")).model_extra["llm_audit"]]
        upstream.release.clear()  # a completion is computed upstream while the disk fills
        held: dict = {}
        waiting = threading.Thread(target=lambda: held.update(r=running.post("/v1/chat/completions", ask("hold"))))
        waiting.start()
        wait_for(lambda: running.backend.inflight == 1, what="the request to reach the upstream")
        filler = fill(small_disk)
        upstream.release.set()
        waiting.join(TIMEOUT)
        refused(held["r"], "full")
        assert set(COMPLETIONS) <= {c.split()[1] for c in every_route_refuses(running, "full", model="any-name")}
        with pytest.raises(openai.APIStatusError) as streamed:
            list(client.chat.completions.create(**ask("hi"), stream=True))
        assert streamed.value.status_code == 503 and "full" in streamed.value.message
        with pytest.raises(openai.APIStatusError) as listed:
            client.models.list()
        assert listed.value.status_code == 503 and "full" in listed.value.message
        filler.unlink()
        receipts.append(client.chat.completions.create(**ask("again")).model_extra["llm_audit"])
        every_route_answers(running)
    appended = Auditor(db=db).append_pending()
    assert [a.status for a in appended] == ["appended"]
    stored = accounted(db, receipts, restored=1)
    restored = next(r for r in stored if r.id == appended[0].id)
    assert restored.tags["serve"]["delivery"]["state"] == "refused"
    assert "full" in restored.tags["serve"]["delivery"]["refused_because"]


def test_a_lock_held_past_the_timeout_is_a_503_and_healthz_says_so(upstream, tmp_path, monkeypatch):
    monkeypatch.setenv("LLM_AUDIT_LOCK_TIMEOUT", "0.3")
    db = tmp_path / "proxy.db"
    with proxy(db, upstream.url) as running:
        client = running.openai()
        receipts = [client.chat.completions.create(**ask("hello")).model_extra["llm_audit"]]
        holder = sqlite3.connect(db, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            refused(running.post("/v1/chat/completions", ask("hi")), "locked")
            with pytest.raises(openai.APIError):  # the text came, then an error event instead of [DONE]
                list(client.chat.completions.create(**ask("hi"), stream=True))
            every_route_refuses(
                running, "locked", model="any-name"
            )  # its two completions are computed, refused and journaled
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        every_route_answers(running)
        receipts.append(client.chat.completions.create(**ask("again")).model_extra["llm_audit"])
    appended = Auditor(db=db).append_pending()
    assert len(appended) == 4
    stored = accounted(db, receipts, restored=4)
    states = {r.tags["serve"]["delivery"]["state"] for r in stored if r.id in {a.id for a in appended}}
    assert states == {"refused"}


def test_a_read_only_database_is_a_503_on_every_route_and_nothing_is_stored(upstream, tmp_path):
    db = tmp_path / "proxy.db"
    with proxy(db, upstream.url) as running:
        receipts = [running.openai().chat.completions.create(**ask("hello")).model_extra["llm_audit"]]
        db.chmod(0o444)
        try:
            every_route_refuses(running, "read-only", model="any-name")
        finally:
            db.chmod(0o644)
        every_route_answers(running)
    assert Auditor(db=db).append_pending() == []  # refused before the upstream was called: nothing computed
    accounted(db, receipts)


def test_a_client_leaving_mid_stream_is_recorded_as_such(upstream, tmp_path):
    db = tmp_path / "proxy.db"
    with proxy(db, upstream.url) as running:
        with httpx.stream(
            "POST",
            running.url + "/v1/chat/completions",
            json=ask("slow", stream=True),
            headers=running.headers(),
            timeout=TIMEOUT,
        ) as response:
            record_id = response.headers["X-LLM-Audit-Record-Id"]
            first = next(line for line in response.iter_lines() if line.startswith("data:"))
        assert json.loads(first[5:])["choices"][0]["delta"]["content"] == TOKENS[0]  # then the client leaves
        wait_for(lambda: records(db), what="the record of the abandoned stream")
    (record,) = accounted(db, [{"record_id": record_id}])
    delivery = record.tags["serve"]["delivery"]
    assert delivery["state"] == "client_disconnected" and 0 <= delivery["chunks"] < len(TOKENS)
    assert record.output_text == "".join(TOKENS)  # computed whole upstream, recorded whole


def test_an_upstream_breaking_off_mid_stream_is_recorded_incomplete_with_the_text_seen(upstream, tmp_path):
    db = tmp_path / "proxy.db"
    with proxy(db, upstream.url) as running:
        seen = []
        with pytest.raises(openai.APIError):
            for chunk in running.openai().chat.completions.create(**ask("break"), stream=True):
                seen += [chunk.choices[0].delta.content or ""] if chunk.choices else []
        with httpx.stream(
            "POST",
            running.url + "/v1/chat/completions",
            json=ask("break", stream=True),
            headers=running.headers(),
            timeout=TIMEOUT,
        ) as response:
            record_id = response.headers["X-LLM-Audit-Record-Id"]
            events = [json.loads(line[5:]) for line in response.iter_lines() if line.startswith("data:")]
        assert events[-1]["error"]["code"] == "upstream_broke_off" and events[-1]["llm_audit"]["record_id"] == record_id
    assert "".join(seen) == "".join(TOKENS[:3])
    stored = accounted(db, [{"record_id": record_id}], restored=1)  # and the openai client's broken stream
    for record in stored:
        assert record.finish_reason == "incomplete" and record.output_text == "".join(TOKENS[:3])
        assert record.tags["serve"]["delivery"] == {
            **record.tags["serve"]["delivery"],
            "state": "upstream_broke_off",
            "chunks": 3,
        }


def test_the_model_comes_from_the_upstream_never_from_the_client_and_byte_tokens_stay_apart(upstream, tmp_path):
    db = tmp_path / "proxy.db"
    claimed = "x\r\nSet-Cookie: a=1"
    with proxy(db, upstream.url) as running:
        reply = running.openai().chat.completions.create(**{**ask("hello"), "model": claimed})
        assert reply.model == claimed  # the upstream echoed it, as llama.cpp's server does
    (record,) = accounted(db, [reply.model_extra["llm_audit"]])
    facts = record.tags["proxy"]
    assert record.model.name == MODEL and facts["upstream_model"] == MODEL and facts["requested_model"] == claimed
    ids = record.output_ids
    assert ids[2] != ids[3] and ids[2] < -1 and ids[3] < -1  # both read "\ufffd"-like, distinct stand-ins
    strings, raw = record.tags["content"]["token_strings"], record.tags["content"]["token_bytes"]
    for step in (2, 3):
        index = -2 - ids[step]
        assert strings[index] == TOKENS[step] and bytes.fromhex(raw[str(index)]) == RAW[step]


def _raw_http(url: str, request: bytes) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=TIMEOUT) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)  # the body ends here, whatever Content-Length said
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_malformed_requests_are_400_or_415_in_json_and_store_nothing(upstream, tmp_path, caplog):
    db = tmp_path / "proxy.db"
    with proxy(db, upstream.url) as running:
        key = running.key
        body = json.dumps(ask("hi")).encode()
        head = f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\n"
        truncated = _raw_http(running.url, head.encode() + f"Content-Length: {len(body) + 50}\r\n\r\n".encode() + body)
        # the client is gone before its body ended: nobody reads the 400, but it is counted as one, with no traceback
        assert truncated == b"" or truncated.startswith(b"HTTP/1.1 400")
        counted = 'llm_audit_requests_total{endpoint="/v1/chat/completions",status="400"} 1.0'
        wait_for(lambda: counted in httpx.get(running.url + "/metrics", timeout=TIMEOUT).text, what="the 400 counted")
        broken = _raw_http(running.url, b"POST /v1/chat/completions HTTP/1.1\r\nHost x\r\n\r\n")
        assert broken.startswith(b"HTTP/1.1 400") and b'"invalid_http"' in broken
        text = httpx.post(
            running.url + "/v1/chat/completions",
            content=body,
            headers={**running.headers(), "Content-Type": "text/plain"},
            timeout=TIMEOUT,
        )
        assert text.status_code == 415 and text.json()["error"]["param"] == "Content-Type"
        huge = running.post("/v1/chat/completions", ask("hi", max_tokens=2**64))
        assert huge.status_code == 400 and huge.json()["error"]["param"] == "max_tokens"
        six = running.post("/v1/chat/completions", ask("hi", logprobs=True, top_logprobs=6))
        assert six.status_code == 400 and six.json()["error"]["param"] == "top_logprobs"
        metrics = httpx.get(running.url + "/metrics", timeout=TIMEOUT).text
        assert 'status="500"' not in metrics
    accounted(db, [])
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


def test_sigterm_with_requests_in_flight_answers_them_all_with_their_records(upstream, tmp_path):
    """``llm-audit proxy`` as a process: SIGTERM while three completions wait on the upstream; uvicorn finishes
    them (and the writer commits them) before it exits, so every client gets its completion and its record."""
    db = tmp_path / "proxy.db"
    cli = [sys.executable, "-m", "audit"]
    key = subprocess.run([*cli, "keys", "add", "app", "--db", str(db)], capture_output=True, text=True, check=True)
    port = free_port()
    process = subprocess.Popen(
        [*cli, "proxy", "--upstream", upstream.url, "--db", str(db), "--port", str(port)], stderr=subprocess.DEVNULL
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _listening(port), what="the proxy to listen")
        upstream.release.clear()
        held, replies = upstream.held, []
        headers = {"Authorization": f"Bearer {key.stdout.strip()}"}

        def call() -> None:
            replies.append(httpx.post(url + "/v1/chat/completions", json=ask("hold"), headers=headers, timeout=TIMEOUT))

        threads = [threading.Thread(target=call) for _ in range(3)]
        for thread in threads:
            thread.start()
        wait_for(lambda: upstream.held == held + 3, what="three requests at the upstream")
        process.send_signal(signal.SIGTERM)
        upstream.release.set()
        for thread in threads:
            thread.join(TIMEOUT)
        assert process.wait(TIMEOUT) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once it has shut down
    finally:
        upstream.release.set()
        if process.poll() is None:
            process.kill()
    assert [reply.status_code for reply in replies] == [200, 200, 200]
    accounted(db, [reply.json()["llm_audit"] for reply in replies])


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False
