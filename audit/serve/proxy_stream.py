"""A streamed completion through the proxy: relayed chunk by chunk, recorded before its ``[DONE]``.

The upstream is read on a task of its own (the *pump*), so a client that leaves does not stop the
recording; the response's generator (the *relay*) forwards each chunk as it comes. Once the upstream
has finished, the pump waits until the relay has sent every chunk or lost its client, so the record
can say how the delivery ended (``tags.serve.delivery``):

* ``streamed``, ``chunks`` N: every chunk sent; the receipt chunk and ``[DONE]`` follow the commit;
* ``client_disconnected``, ``chunks`` N: the client left after N chunks (the upstream's answer is
  recorded whole: it was computed);
* ``upstream_broke_off``, ``chunks`` N: the upstream's stream ended in an error or broke off after the
  client saw text; the record keeps the text seen, ``finish_reason`` ``incomplete``, and the client
  gets an error event (no ``[DONE]``) once that record is committed. A stream that breaks off before
  any chunk records nothing: the client saw nothing.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from starlette.responses import Response, StreamingResponse

from ..traffic.answer import Answer, strip_for_client
from . import json_codec
from .errors import ApiError
from .render import sse
from .responses import json_response

UPSTREAM_PATHS = {"/v1/chat/completions": "/chat/completions", "/v1/completions": "/completions"}


def upstream_error(status: int, body: bytes) -> Response:
    """The upstream's refusal as the client should see it: its status and, if OpenAI-shaped, its body."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if not (isinstance(data, dict) and isinstance(data.get("error"), dict)):
        text = body.decode("utf-8", "replace")[:300]
        data = ApiError(status, f"the upstream answered {status}: {text}").body()
    return json_response(data, status)


async def stream_through(
    backend: Any,
    path: str,
    body: dict[str, Any],
    pending: dict[str, Any],
    chat: bool,
    top: int | None,
    ids: bool,
    headers: dict[str, str],
) -> Response:
    """Open the upstream's stream and answer with the relay (or the upstream's refusal, or a 502/504).

    ``backend``: the :class:`.proxy.ProxyBackend` (its client, headers, writer and receipt).
    """
    chunks: asyncio.Queue = asyncio.Queue()
    sent = {"chunks": 0, "client_disconnected": False, "finished": False}
    relayed = asyncio.Event()
    assert backend.client is not None
    client, url = backend.client, backend.upstream + UPSTREAM_PATHS[path]

    async def read(answer: Answer) -> dict[str, Any] | None:
        """Relay the upstream's chunks; an error it sent or ran into after opening (None: it finished)."""
        for attempt in range(2):
            payload = json.dumps(body).encode()
            async with client.post(url, data=payload, headers=backend.json_headers()) as response:
                if response.status >= 400:
                    text = await response.read()
                    if attempt == 0 and backend.refused_token_ids(response.status, text.decode("utf-8", "replace")):
                        body.pop("return_token_ids", None)
                        continue
                    await chunks.put(("refused", upstream_error(response.status, text)))
                    return None
                await chunks.put(("open", None))
                try:
                    async for line in _lines(response.content):
                        if not line.startswith("data:"):
                            continue
                        data = line[5:].strip()
                        if data == "[DONE]":
                            return None
                        chunk, strict = json_codec.loads(data.encode())
                        if isinstance(chunk, dict) and "error" in chunk:
                            return chunk
                        answer.add_chunk(chunk, chat)
                        await chunks.put(("chunk", (chunk, strict)))
                except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
                    message = f"the upstream's stream broke off ({type(exc).__name__})"
                    return ApiError(502, message, code="upstream_broke_off").body()
                return None
        return None

    async def pump() -> None:
        started = time.time()
        answer = Answer()
        try:
            try:
                broke = await read(answer)
            except TimeoutError:
                await chunks.put(("fail", ApiError(504, f"the upstream {backend.upstream} did not answer in time")))
                return
            except aiohttp.ClientError as exc:
                message = f"the upstream {backend.upstream} could not be reached ({type(exc).__name__})"
                await chunks.put(("fail", ApiError(502, message)))
                return
            await chunks.put(("end", None))
            await relayed.wait()  # every chunk sent, or the client gone: the delivery is known
            received = bool(answer.text or answer.steps)
            if broke is not None and not received:
                await chunks.put(("error", broke))  # nothing was seen, nothing is recorded
                return
            delivery: dict[str, Any] = {"chunks": sent["chunks"]}
            if broke is not None:
                answer.finish_reason = "incomplete"
                delivery.update(state="upstream_broke_off", error=str(broke.get("error"))[:300])
            elif sent["client_disconnected"]:
                delivery["state"] = "client_disconnected"
            else:
                delivery["state"] = "streamed"
            pending["request"].tags["serve"]["stream"] = {
                "client_disconnected": sent["client_disconnected"],
                "chunks": sent["chunks"],
            }
            try:
                record, record_hash = await backend.store(pending, answer, started, delivery)
            except ApiError as exc:
                await chunks.put(("fail", exc))
                return
            if broke is not None:
                await chunks.put(("error", {**broke, "llm_audit": backend.receipt(record, record_hash)}))
            else:
                await chunks.put(("stored", (record, record_hash, answer)))
        finally:
            backend.inflight -= 1

    task = asyncio.create_task(pump())
    backend._tasks.add(task)
    task.add_done_callback(backend._tasks.discard)
    kind, value = await chunks.get()
    if kind == "refused":
        return value
    if kind == "fail":
        raise value
    return StreamingResponse(
        _relay(backend, chunks, sent, relayed, chat, top, ids), media_type="text/event-stream", headers=headers
    )


async def _lines(content: aiohttp.StreamReader) -> AsyncIterator[str]:
    """The stream's lines as they arrive, whatever their length (``readline`` refuses lines over 64 KiB)."""
    pending = b""
    async for part in content.iter_any():
        pending += part
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield line.decode("utf-8").rstrip("\r")
    if pending:
        yield pending.decode("utf-8").rstrip("\r")


async def _relay(
    backend: Any,
    chunks: asyncio.Queue,
    sent: dict[str, Any],
    relayed: asyncio.Event,
    chat: bool,
    top: int | None,
    ids: bool,
) -> AsyncIterator[bytes]:
    try:
        while True:
            kind, value = await chunks.get()
            if kind == "chunk":
                chunk, strict = value
                yield b"data: " + json_codec.dumps(strip_for_client(chunk, top, ids, chat), strict) + b"\n\n"
                sent["chunks"] += 1
            elif kind == "end":
                relayed.set()
            elif kind in ("error", "fail"):
                sent["finished"] = True
                yield sse(value if kind == "error" else value.body())
                return
            elif kind == "stored":
                record, record_hash, answer = value
                sent["finished"] = True
                last = {
                    "id": answer.completion_id,
                    "object": "chat.completion.chunk" if chat else "text_completion",
                    "created": answer.created,
                    "model": answer.model,
                    "choices": [],
                    "llm_audit": backend.receipt(record, record_hash),
                }
                yield sse(last)
                yield sse("[DONE]")
                return
    finally:
        if not sent["finished"] and not relayed.is_set():
            sent["client_disconnected"] = True
        relayed.set()
