"""Run an ASGI app under uvicorn: in the foreground (the CLI) or on a thread (tests, benchmarks, notebooks).

One helper for the recording server and proxy (``audit.serve``) and the review workspace
(``audit.ui``). Port 0 lets the operating system pick a free port; :attr:`BackgroundServer.url`
tells which. An app that holds resources (the workspace's job worker, the server's model and
writer threads) releases them in its lifespan, which uvicorn runs on start and on stop.
"""

from __future__ import annotations

import gc
import socket
import threading
import time
from typing import Any

import uvicorn

from ..errors import UserError


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now (for a server started in another process)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _config(app: Any, host: str, port: int, log_level: str, **options: Any) -> uvicorn.Config:
    # One event loop and no worker processes: the model thread and the writer thread live in this process.
    return uvicorn.Config(
        app, host=host, port=port, log_level=log_level, access_log=False, lifespan="on", workers=1, **options
    )


GC_YOUNG = 20_000  # container objects allocated (net) before the cyclic collector runs; Python's default is 700


def server_gc() -> None:
    """Tune the cyclic garbage collector for a server process: the objects of its start (modules, the app, the
    model) are frozen out of every later collection, and the young generation is collected after 20,000 net
    allocations, not 700. A proxied request allocates thousands of short-lived containers (the upstream's JSON,
    the record), nearly all freed by their reference counts within the request: with the default the collector
    ran several times per request, mostly on objects about to be freed, for about 6% of the proxy's CPU
    (``benchmarks/proxy_throughput.py``); now it runs rarely. Called once, in the process that serves."""
    gc.freeze()
    young, *older = gc.get_threshold()
    gc.set_threshold(max(young, GC_YOUNG), *older)


def run(app: Any, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info", **options: Any) -> None:
    """Serve until interrupted (Ctrl-C finishes the requests in progress, then stops); ``options`` go to uvicorn."""
    server = uvicorn.Server(_config(app, host, port, log_level, **options))
    server_gc()
    try:
        server.run()
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C once its graceful shutdown (the lifespan's too) is done
        if not server.started:
            raise
        return
    if not server.started:
        raise UserError(f"could not listen on {host}:{port} (in use, or not allowed): pass another --port")


class BackgroundServer:
    """``with BackgroundServer(app) as server: ... server.url``: uvicorn on a free loopback port, on a thread."""

    def __init__(
        self, app: Any, host: str = "127.0.0.1", port: int = 0, start_timeout: float = 60.0, **options: Any
    ) -> None:
        """``options`` go to uvicorn (``ssl_certfile``, ``proxy_headers``, ``forwarded_allow_ips``, ...)."""
        self.app = app
        self.scheme = "https" if options.get("ssl_certfile") else "http"
        self.server = uvicorn.Server(_config(app, host, port, "warning", **options))
        self.host = host
        self.start_timeout = start_timeout
        self.thread = threading.Thread(target=self.server.run, name="llm-audit-uvicorn", daemon=True)

    @property
    def port(self) -> int:
        return self.server.servers[0].sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def start(self) -> BackgroundServer:
        self.thread.start()
        deadline = time.monotonic() + self.start_timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start on {self.host}")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 60.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
