"""Run the workspace under uvicorn: in the foreground (``llm-audit ui``) or in a thread (tests, benchmarks)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn

from ..errors import UserError
from .app import create_app


def _check_ready(auditor: Any, key: Path | None) -> None:
    from ..store import check_writable

    check_writable(auditor.db_path)
    if not auditor.db_path.exists():
        raise UserError(
            f"no audit database at {auditor.db_path}: record something first (`llm-audit demo`), or pass --db"
        )
    if not auditor.reviews.accounts.list():
        raise UserError(
            f"{auditor.db_path} has no workspace user yet: create the first admin with "
            f"`llm-audit users add NAME --role admin --db {auditor.db_path}`"
        )
    if key is not None and not Path(key).exists():
        raise UserError(f"key file {key} does not exist: pass --key with the public key you trust")


def serve(auditor: Any, *, host: str, port: int, key: Path | None = None, say: Callable[[str], None] = print) -> None:
    """Serve until Ctrl-C; refuses first (UserError) if the database or its users are not ready."""
    _check_ready(auditor, key)
    reviews = auditor.reviews
    reviews.trusted_key = key
    app = create_app(reviews)
    say(f"llm-audit review workspace on http://{host}:{port}/ over {auditor.db_path} (Ctrl-C stops it)")
    if host not in ("127.0.0.1", "localhost", "::1"):
        say("  not on loopback: put it behind HTTPS (cookies are marked Secure only for HTTPS requests)")
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, proxy_headers=False)
    try:
        uvicorn.Server(config).run()
    finally:
        reviews.close()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class BackgroundServer:
    """The app on a free loopback port in a daemon thread; ``with`` starts it and stops it (bounded waits)."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host, self.port = host, port or free_port(host)
        self.app = app
        self.server = uvicorn.Server(
            uvicorn.Config(app, host=self.host, port=self.port, log_level="warning", access_log=False, lifespan="off")
        )
        self.thread = threading.Thread(target=self.server.run, name="llm-audit-ui", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> BackgroundServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"the workspace did not start on {self.url}")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        reviews = getattr(self.app.state, "reviews", None)
        if reviews is not None:
            reviews.close()
