"""Run an app under uvicorn: in the foreground (the CLI) or on a thread (tests, benchmarks, notebooks).

Port 0 lets the operating system pick a free port; :attr:`BackgroundServer.url` tells which.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from ..errors import UserError
from .errors import ApiError


class JsonErrorsH11(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, answering a request it cannot parse (malformed headers, a broken request
    line) with an OpenAI-shaped JSON 400 instead of plain text, as every other refusal is."""

    def send_400_response(self, msg: str) -> None:
        headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
        self.transport.write(self.conn.send(h11.Response(status_code=400, headers=headers, reason=b"Bad Request")))
        self.transport.write(self.conn.send(h11.Data(data=_json_400(msg))))
        self.transport.write(self.conn.send(h11.EndOfMessage()))
        self.transport.close()


def _json_400(msg: str) -> bytes:
    return json.dumps(ApiError(400, f"{msg} Send a well-formed HTTP/1.1 request.", code="invalid_http").body()).encode()


def _http_protocol() -> type:
    """httptools' parser (C, a fraction of h11's cost per request) when installed, else h11; both answer JSON 400s."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        return JsonErrorsH11

    class JsonErrorsHttpTools(HttpToolsProtocol):
        def send_400_response(self, msg: str) -> None:
            body = _json_400(msg)
            head = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\nconnection: close\r\n"
            self.transport.write(head + b"content-length: %d\r\n\r\n" % len(body) + body)
            self.transport.close()

    return JsonErrorsHttpTools


def _config(app: Any, host: str, port: int, log_level: str) -> uvicorn.Config:
    # One event loop and no worker processes: the model thread and the writer thread live in this process.
    # loop "auto": uvloop when installed (the proxy's event loop is its busiest thread), else asyncio.
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        lifespan="on",
        workers=1,
        http=_http_protocol(),
    )


def run(app: Any, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info") -> None:
    """Serve until interrupted (Ctrl-C finishes the generation and the writes in progress, then stops)."""
    server = uvicorn.Server(_config(app, host, port, log_level))
    server.run()
    if not server.started:
        raise UserError(f"could not listen on {host}:{port} (in use, or not allowed): pass another --port")


class BackgroundServer:
    """``with BackgroundServer(app) as server: ... server.url``: uvicorn on a free loopback port, on a thread."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, start_timeout: float = 60.0) -> None:
        self.server = uvicorn.Server(_config(app, host, port, "warning"))
        self.host = host
        self.start_timeout = start_timeout
        self.thread = threading.Thread(target=self.server.run, name="llm-audit-uvicorn", daemon=True)

    @property
    def port(self) -> int:
        return self.server.servers[0].sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> BackgroundServer:
        self.thread.start()
        deadline = time.monotonic() + self.start_timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 60.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
