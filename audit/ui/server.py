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


def transport_options(tls_cert: Path | None, tls_key: Path | None, forwarded_allow_ips: str | None) -> dict[str, Any]:
    """uvicorn's options for TLS and a reverse proxy, checked (UserError) before anything starts.

    Without ``forwarded_allow_ips`` no ``X-Forwarded-*`` header is believed (a client could claim any
    address or scheme); with it, only connections from those addresses may set the client's address
    (what the login back-off counts by) and scheme (what marks the cookie Secure and sends HSTS).
    """
    if (tls_cert is None) != (tls_key is None):
        raise UserError("give both --tls-cert and --tls-key (the certificate chain and its private key), or neither")
    options: dict[str, Any] = {"proxy_headers": False}
    if tls_cert is not None and tls_key is not None:
        for what, path in (("certificate", tls_cert), ("key", tls_key)):
            if not Path(path).is_file():
                raise UserError(f"the TLS {what} file {path} does not exist: pass the PEM file of your {what}")
        options.update(ssl_certfile=str(tls_cert), ssl_keyfile=str(tls_key))
    if forwarded_allow_ips:
        ips = [ip.strip() for ip in forwarded_allow_ips.split(",") if ip.strip()]
        if not ips:
            raise UserError("--forwarded-allow-ips needs the proxy's addresses, e.g. 127.0.0.1 or 10.0.0.5,10.0.0.6")
        options.update(proxy_headers=True, forwarded_allow_ips=ips)
    return options


def serve(
    auditor: Any,
    *,
    host: str,
    port: int,
    key: Path | None = None,
    say: Callable[[str], None] = print,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    forwarded_allow_ips: str | None = None,
) -> None:
    """Serve until Ctrl-C; refuses first (UserError) if the database, its users or the TLS files are not ready."""
    options = transport_options(tls_cert, tls_key, forwarded_allow_ips)
    _check_ready(auditor, key)
    reviews = auditor.reviews
    reviews.trusted_key = key
    app = create_app(reviews)
    scheme = "https" if tls_cert else "http"
    say(f"llm-audit review workspace on {scheme}://{host}:{port}/ over {auditor.db_path} (Ctrl-C stops it)")
    if host not in ("127.0.0.1", "localhost", "::1") and not tls_cert and not forwarded_allow_ips:
        say(
            "  not on loopback: serve it over HTTPS (--tls-cert/--tls-key), or behind an HTTPS reverse proxy "
            "named with --forwarded-allow-ips (cookies are marked Secure only for HTTPS requests)"
        )
    try:
        run(app, host=host, port=port, log_level="warning", **options)
    finally:
        reviews.close()
