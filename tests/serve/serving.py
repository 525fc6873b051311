"""Helpers of the server and proxy tests: a real uvicorn server on a free loopback port, on a thread.

Each server is started once per test module (``with running(...)`` in a module-scoped fixture)
over the session's tiny model; every client call has a timeout, so nothing can hang the suite.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from audit import Auditor
from audit.serve.app import KINDS, create_app
from audit.serve.http import uvicorn_options
from audit.serve.proxy import ProxyBackend
from audit.serve.schema import ChatRequest
from audit.serve.service import LocalBackend
from audit.web.background import BackgroundServer

TIMEOUT = 60.0


class Running:
    """A started server: its URL, API key, backend (queue, writer, metrics) and Auditor."""

    def __init__(self, server: BackgroundServer, backend: Any, auditor: Auditor, key: str) -> None:
        self.server = server
        self.backend = backend
        self.auditor = auditor
        self.key = key

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def base_url(self) -> str:
        return self.server.url + "/v1"

    @property
    def db(self) -> Path:
        return self.auditor.db_path

    def headers(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.key}"}

    def post(self, path: str, body: Any = None, *, key: str | None = None, raw: bytes | None = None) -> httpx.Response:
        headers = {**self.headers(key), "Content-Type": "application/json"}
        if raw is not None:
            return httpx.post(self.url + path, content=raw, headers=headers, timeout=TIMEOUT)
        return httpx.post(self.url + path, json=body, headers=headers, timeout=TIMEOUT)

    def openai(self, key: str | None = None):
        import openai

        return openai.OpenAI(base_url=self.base_url, api_key=key or self.key, max_retries=0, timeout=TIMEOUT)

    def async_openai(self, key: str | None = None):
        import openai

        return openai.AsyncOpenAI(base_url=self.base_url, api_key=key or self.key, max_retries=0, timeout=TIMEOUT)


@contextmanager
def running(backend_of: Callable[[Auditor], Any], auditor: Auditor, key_name: str = "loan-app") -> Iterator[Running]:
    key = auditor.api_keys.add(key_name)
    backend = backend_of(auditor)
    with BackgroundServer(create_app(backend, auditor.api_keys), **uvicorn_options()) as server:
        yield Running(server, backend, auditor, key)


def serve(db: Path, model: Any, key_name: str = "loan-app", **options: Any):
    """``with serve(db, tiny_loaded) as server``: ``llm-audit serve`` over ``model``, recording to ``db``."""
    policy = options.pop("policy", None)
    key_store = options.pop("key_store", None)
    auditor = Auditor(db=db, model=model, policy=policy, key_store=key_store)
    return running(lambda a: LocalBackend(a, **options), auditor, key_name)


def proxy(db: Path, upstream: str, key_name: str = "loan-app", **options: Any):
    """``with proxy(db, upstream.base_url, upstream_key=...) as server``: ``llm-audit proxy``."""
    auditor = Auditor(db=db)
    return running(lambda a: ProxyBackend(a, upstream, **options), auditor, key_name)


def snapshot(db: Path) -> dict[str, bytes]:
    """The database's bytes, its write-ahead log's included (a write may sit there before a checkpoint);
    an empty log, which a reader may leave behind, holds no write and counts as none."""
    files = (db, db.with_name(db.name + "-wal"))
    return {p.name: p.read_bytes() for p in files if p.exists() and (p == db or p.stat().st_size)}


def wait_for(condition: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll ``condition`` until it returns something truthy (bounded: fails after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def sse_events(response: httpx.Response) -> list[Any]:
    """The ``data:`` payloads of a streamed response, parsed (``[DONE]`` kept as the string)."""
    import json

    events = []
    for line in response.iter_lines():
        if line.startswith("data: "):
            data = line[6:]
            events.append(data if data == "[DONE]" else json.loads(data))
    return events


def every_route_refuses(running: Running, *words: str, model: str) -> list[str]:
    """Each route of the app, called as a client would (key, JSON body), answers 503 naming the cause (``words``),
    never 500: JSON everywhere but ``/metrics``, which keeps its Prometheus text with the database marked not
    writable. ``model``: the name the completions send. Returns the routes called."""
    called = []
    for route in running.server.app.routes:
        for method in sorted(getattr(route, "methods", None) or ()):
            if method == "HEAD":
                continue
            kind = KINDS.get(route.path)
            body = None
            if kind is ChatRequest:
                body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
            elif kind is not None:
                body = {"model": model, "prompt": "hi", "max_tokens": 2}
            response = httpx.request(
                method, running.url + route.path, json=body, headers=running.headers(), timeout=TIMEOUT
            )
            where = f"{method} {route.path}"
            assert response.status_code == 503, (where, response.status_code, response.text)
            if route.path == "/metrics":
                assert "llm_audit_database_writable 0.0" in response.text, response.text
                assert all(w in response.text.split("\n", 1)[0] for w in words), response.text[:300]
                assert "/tmp" not in response.text and "/root" not in response.text
            elif route.path == "/healthz":
                assert response.json()["status"] == "not writable"
                assert all(w in response.json()["reason"] for w in words), response.text
            else:
                message = response.json()["error"]["message"]
                assert all(w in message for w in words), (where, message)
                assert "/tmp" not in message and "/root" not in message  # no server paths
            called.append(where)
    assert len(called) >= 5, called  # the two completions, models, healthz, metrics at least
    return called


def every_route_answers(running: Running) -> None:
    """Once the fault is gone: the reads answer 200 again and the database is marked writable."""
    assert httpx.get(running.url + "/healthz", timeout=TIMEOUT).status_code == 200
    assert httpx.get(running.url + "/v1/models", headers=running.headers(), timeout=TIMEOUT).status_code == 200
    scraped = httpx.get(running.url + "/metrics", timeout=TIMEOUT)
    assert scraped.status_code == 200 and "llm_audit_database_writable 1.0" in scraped.text
