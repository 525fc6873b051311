"""Run the workspace in the foreground (``llm-audit ui``); tests and benchmarks use
:class:`audit.web.background.BackgroundServer`, shared with ``llm-audit serve``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..web.background import run
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
    try:
        run(app, host=host, port=port, log_level="warning", proxy_headers=False)
    finally:
        reviews.close()
