"""The request body limit, enforced before the body is read: an ASGI middleware in front of the workspace.

A ``Content-Length`` over the limit is answered 413 at once, without reading a byte of the body;
a body sent without one (chunked) is read by this middleware up to the limit and answered 413
as soon as it passes it, so no client, logged in or not, can make the server hold more than
``limit`` bytes of one request. A body within the limit is handed on to the application as it
was received. Nothing is stored for a refused request.
"""

from __future__ import annotations

import json
from typing import Any

from .security import HEADERS

Scope = dict[str, Any]


class BodyLimit:
    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    def _too_large(self, scope: Scope) -> tuple[dict, dict]:
        message = f"the request body is larger than {self.limit // 1024} KiB: send less (nothing was stored)"
        if scope["path"].startswith("/api/"):
            body, kind = json.dumps({"error": message}).encode(), b"application/json"
        else:
            body, kind = message.encode(), b"text/plain; charset=utf-8"
        headers = [(b"content-type", kind), (b"content-length", str(len(body)).encode()), (b"connection", b"close")]
        headers += [(k.lower().encode(), v.encode()) for k, v in HEADERS.items()]
        return (
            {"type": "http.response.start", "status": 413, "headers": headers},
            {"type": "http.response.body", "body": body},
        )

    async def _refuse(self, scope: Scope, send: Any) -> None:
        start, body = self._too_large(scope)
        await send(start)
        await send(body)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = None
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    length = self.limit + 1
        if length is not None:
            if length > self.limit:
                await self._refuse(scope, send)
                return
            await self.app(scope, receive, send)  # the server reads no more than Content-Length
            return
        if scope.get("method") in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        # No length given: read it here, at most ``limit`` bytes, then replay it.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._refuse(scope, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> dict:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
