"""Record production traffic: an OpenAI-compatible recording server and a recording proxy.

``llm-audit serve`` answers OpenAI chat and text completions from a local model, each one
recorded exactly as ``Auditor.generate`` records it (:mod:`.service`); ``llm-audit proxy`` puts the
same API in front of any OpenAI-compatible server (vLLM, TGI, llama.cpp) and records what it
forwards (:mod:`.proxy`). Both are entry points above the ``Auditor`` façade; the HTTP surface is
shared (:mod:`.app`). Importing this package is cheap; the server modules load on use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..auditor import Auditor


def check_keys(auditor: Auditor) -> None:
    """Refuse to start a server nobody can call: at least one API key must be in force."""
    from ..errors import UserError

    if auditor.api_keys.count_active() == 0:
        raise UserError(
            f"no API key in force in {auditor.db_path}: add one with `llm-audit keys add NAME --db {auditor.db_path}` "
            "(clients send it as Authorization: Bearer KEY)"
        )


def _followers(auditor: Auditor, backend: Any, otlp_endpoint: str | None, otlp_content: bool) -> tuple:
    """The OTLP follower of ``--otlp-endpoint`` (its counters on the backend's /metrics), or none."""
    if not otlp_endpoint:
        return ()
    from ..telemetry.follow import Follower

    content = otlp_content and auditor.policy is None  # a privacy policy governs content: it never leaves
    return (Follower(auditor.db_path, otlp_endpoint, backend.metrics.registry, content=content),)


def server_app(auditor: Auditor, *, otlp_endpoint: str | None = None, otlp_content: bool = False, **options: Any):
    """The ASGI app serving ``auditor``'s model (``options``: :class:`.service.LocalBackend`'s)."""
    from .app import create_app
    from .service import LocalBackend

    backend = LocalBackend(auditor, **options)
    return create_app(backend, auditor.api_keys, _followers(auditor, backend, otlp_endpoint, otlp_content))


def proxy_app(
    auditor: Auditor, upstream: str, *, otlp_endpoint: str | None = None, otlp_content: bool = False, **options: Any
):
    """The ASGI app recording what it forwards to ``upstream`` (``options``: :class:`.proxy.ProxyBackend`'s)."""
    from .app import create_app
    from .proxy import ProxyBackend

    backend = ProxyBackend(auditor, upstream, **options)
    return create_app(backend, auditor.api_keys, _followers(auditor, backend, otlp_endpoint, otlp_content))


__all__ = ["check_keys", "proxy_app", "server_app"]
