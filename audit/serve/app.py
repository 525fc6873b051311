"""The HTTP surface shared by ``llm-audit serve`` and ``llm-audit proxy`` (FastAPI under uvicorn).

Routes: ``POST /v1/chat/completions``, ``POST /v1/completions``, ``GET /v1/models`` (these three
need ``Authorization: Bearer <key>``), ``GET /healthz`` and ``GET /metrics`` (open, for
probes and Prometheus). Order of checks for a completion: the key (401), the body (400), then
the backend (400 for what only the model can check, 429 for a full queue, 503 when the record
cannot be stored). Every error is OpenAI-shaped and nothing is stored for any of them.

While the database cannot take records (full disk, read-only, a write lock held past the timeout)
every route answers 503: the completions and ``/v1/models`` in JSON (a client that lists the models
before it sends learns it then, not after the upstream computed an answer), ``/healthz`` with the
reason, ``/metrics`` with its whole text and ``llm_audit_database_writable 0``.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from .auth import UNKNOWN, KeyCheck
from .errors import ApiError
from .metrics import Metrics, MetricsMiddleware
from .responses import json_response
from .schema import ChatRequest, CompletionRequest, parse
from .writable import next_write_fails, unwritable_reason, write_refusal

if TYPE_CHECKING:
    from ..credentials import ApiKeys
    from .group_commit import GroupWriter

MAX_BODY = 4 * 1024 * 1024  # bytes; a larger body is refused before it is parsed
KINDS = {"/v1/chat/completions": ChatRequest, "/v1/completions": CompletionRequest}


class Backend(Protocol):
    metrics: Metrics
    db_path: Path
    writer: GroupWriter

    def start(self) -> None: ...
    def stop(self) -> None: ...
    async def models(self) -> list[dict[str, Any]]: ...
    def health(self) -> tuple[int, dict[str, Any]]: ...
    async def complete(self, path: str, request: Any, operator: str, disconnected: Any = None) -> Response: ...


async def authenticate(request: Request, keys: KeyCheck) -> str:
    """The name of the key in ``Authorization: Bearer``; 401 without one in force."""
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiError(
            401,
            "no API key: send Authorization: Bearer <key> (an operator issues one with `llm-audit keys add NAME`)",
            code="invalid_api_key",
        )
    key = key.strip()
    name = keys.kept(key)  # the answer kept while the keys are unchanged, else the full check, off the loop
    if name is UNKNOWN:
        name = await asyncio.to_thread(keys.holder, key)
    if name is None:
        raise ApiError(401, "the API key is not valid (unknown or revoked): ask for a new key", code="invalid_api_key")
    return name


def create_app(backend: Backend, api_keys: ApiKeys, companions: tuple = ()) -> FastAPI:
    """The ASGI app over ``backend``; starts and stops its threads with the server (and ``companions``': the
    OTLP follower, which starts after the backend and stops before it)."""
    keys = KeyCheck(api_keys.db_path)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        backend.start()
        for companion in companions:
            companion.start()
        try:
            yield
        finally:
            for companion in companions:
                await asyncio.to_thread(companion.stop)
            await asyncio.to_thread(backend.stop)
            keys.close()
            if hasattr(backend, "aclose"):
                await backend.aclose()

    app = FastAPI(title="llm-audit", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        return json_response(exc.body(), exc.status, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = f"{request.method} {request.url.path}: {exc.detail}"
        if exc.status_code == 404:
            message += " (endpoints: /v1/chat/completions, /v1/completions, /v1/models, /healthz, /metrics)"
        return json_response(ApiError(exc.status_code, message).body(), exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        return json_response(ApiError(400, f"invalid request: {exc.errors()[0].get('msg')}").body(), 400)

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> Response:
        error = ApiError(500, f"internal error ({type(exc).__name__}): nothing was stored; please report it")
        return json_response(error.body(), 500)

    async def completion(request: Request) -> Response:
        operator = await authenticate(request, keys)
        media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if media_type != "application/json":
            raise ApiError(
                415,
                f"the request body must be JSON, sent with Content-Type: application/json (got {media_type or 'none'!r})",
                param="Content-Type",
                code="unsupported_media_type",
            )
        length = request.headers.get("content-length") or "0"
        if not length.isdigit():
            raise ApiError(400, "the Content-Length header is not a number", param="Content-Length")
        if int(length) > MAX_BODY:
            raise ApiError(413, f"the request body is larger than {MAX_BODY} bytes")
        try:
            body = await request.body()
        except ClientDisconnect:  # the body ended before its Content-Length: nobody is left to answer
            raise ApiError(400, "the request body ended before its Content-Length: send the whole body") from None
        parsed = parse(KINDS[request.url.path], body)
        return await backend.complete(request.url.path, parsed, operator, request.is_disconnected)

    async def models(request: Request) -> Response:
        await authenticate(request, keys)
        refusal = unwritable_reason(backend.db_path)  # system calls only; the healthy case ends here
        if refusal is None and backend.writer.failure is not None:  # the last write failed: why, off the loop
            refusal = await asyncio.to_thread(write_refusal, backend.db_path, backend.writer, probe_lock=False)
        if refusal is not None:
            raise ApiError(
                503,
                f"completions are refused now: no record could be stored ({refusal}); retry once it is fixed",
                code="database_unavailable",
            )
        return json_response({"object": "list", "data": await backend.models()})

    async def healthz(request: Request) -> Response:
        status, body = await asyncio.to_thread(backend.health)
        return json_response(body, status)

    async def metrics(request: Request) -> Response:
        def render() -> tuple[bytes, list[str]]:
            return backend.metrics.render(next_write_fails(backend.db_path, backend.writer))

        text, problems = await asyncio.to_thread(render)
        return Response(text, 503 if problems else 200, media_type="text/plain; version=0.0.4; charset=utf-8")

    # Plain Starlette routes: each endpoint takes the request and returns a response, so FastAPI's dependency
    # and validation machinery had nothing to do but cost a tenth of the event loop's time per completion.
    app.add_route("/v1/chat/completions", completion, methods=["POST"])
    app.add_route("/v1/completions", completion, methods=["POST"])
    app.add_route("/v1/models", models, methods=["GET"])
    app.add_route("/healthz", healthz, methods=["GET"])
    app.add_route("/metrics", metrics, methods=["GET"])
    app.add_middleware(MetricsMiddleware, metrics=backend.metrics)
    return app
