"""A client that leaves a non-streamed completion before its answer: recorded, and marked as never delivered.

The upstream computed the answer, so the record is kept (fail-closed: the evidence of what the model said
is never dropped), and its delivery says the client was gone: a reader can tell it from one answered.
A client that stays gets the same kind of record marked answered, so the two are compared in one test.
"""

from __future__ import annotations

import json
import socket
import time

import pytest

from audit import Auditor
from audit.web.background import BackgroundServer
from tests.serve.faulty_upstream import FaultyUpstream
from tests.serve.serving import TIMEOUT, proxy, wait_for

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture
def upstream():
    faulty = FaultyUpstream()
    with BackgroundServer(faulty.app) as server:
        faulty.url = server.url + "/v1"
        yield faulty


def test_a_client_leaving_before_a_whole_answer_is_recorded_as_never_delivered(upstream, tmp_path):
    db = tmp_path / "proxy.db"
    with proxy(db, upstream.url) as running:
        stayed = running.post("/v1/chat/completions", {"model": "x", "messages": [{"role": "user", "content": "hi"}]})
        assert stayed.status_code == 200
        upstream.release.clear()
        body = json.dumps({"model": "x", "messages": [{"role": "user", "content": "hold"}]}).encode()
        host, port = running.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=TIMEOUT) as sock:
            sock.sendall(
                b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + f"Authorization: Bearer {running.key}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            wait_for(lambda: upstream.held == 1, what="the upstream holding the request")
        time.sleep(0.2)  # the proxy sees the connection closed before the upstream answers
        upstream.release.set()
        wait_for(lambda: len(Auditor(db=db).list(limit=10)) == 2, what="the abandoned completion's record")
    records = sorted(Auditor(db=db).list(limit=10), key=lambda r: r.seq)
    states = [r.tags["serve"]["delivery"]["state"] for r in records]
    assert states == ["answered_after_commit", "client_disconnected_before_answer"]
    assert records[1].output_text == records[0].output_text  # the answer the upstream computed is kept whole
    assert Auditor(db=db).verify().ok
