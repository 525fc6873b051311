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


def server_app(auditor: Auditor, **options: Any):
    """The ASGI app serving ``auditor``'s model (``options``: :class:`.service.LocalBackend`'s)."""
    from .app import create_app
    from .service import LocalBackend

    return create_app(LocalBackend(auditor, **options), auditor.api_keys)


def proxy_app(auditor: Auditor, upstream: str, **options: Any):
    """The ASGI app recording what it forwards to ``upstream`` (``options``: :class:`.proxy.ProxyBackend`'s)."""
    from .app import create_app
    from .proxy import ProxyBackend

    return create_app(ProxyBackend(auditor, upstream, **options), auditor.api_keys)


__all__ = ["check_keys", "proxy_app", "server_app"]
