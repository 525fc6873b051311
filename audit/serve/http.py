"""uvicorn's HTTP protocol for ``serve`` and ``proxy``: the C parser when installed, and JSON 400s.

A request uvicorn cannot parse (malformed headers, a broken request line) is answered by the
protocol itself, before the app sees it, in plain text; here it is an OpenAI-shaped JSON 400 like
every other refusal. httptools' parser (C) costs a fraction of h11's per request, which the proxy
needs to keep up with its upstream (``benchmarks/proxy_throughput.py``); h11 is the fallback.
"""

from __future__ import annotations

import json
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from .errors import ApiError


def _json_400(msg: str) -> bytes:
    return json.dumps(ApiError(400, f"{msg} Send a well-formed HTTP/1.1 request.", code="invalid_http").body()).encode()


class JsonErrorsH11(H11Protocol):
    """h11's protocol, answering what it cannot parse with a JSON 400."""

    def send_400_response(self, msg: str) -> None:
        headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
        self.transport.write(self.conn.send(h11.Response(status_code=400, headers=headers, reason=b"Bad Request")))
        self.transport.write(self.conn.send(h11.Data(data=_json_400(msg))))
        self.transport.write(self.conn.send(h11.EndOfMessage()))
        self.transport.close()


def _protocol() -> type:
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        return JsonErrorsH11

    class JsonErrorsHttpTools(HttpToolsProtocol):
        """httptools' protocol, answering what it cannot parse with a JSON 400."""

        def send_400_response(self, msg: str) -> None:
            body = _json_400(msg)
            head = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\nconnection: close\r\n"
            self.transport.write(head + b"content-length: %d\r\n\r\n" % len(body) + body)
            self.transport.close()

    return JsonErrorsHttpTools


def uvicorn_options() -> dict[str, Any]:
    """What ``audit.web.background.run`` / ``BackgroundServer`` take for a recording server or proxy
    (the event loop stays uvicorn's "auto": uvloop when installed)."""
    return {"http": _protocol()}
