"""An OpenAI-compatible upstream for the proxy's fault tests, misbehaving on request, like llama.cpp's server.

It lists one model (``served-model``) but echoes whatever ``model`` the client sent in its answers; it
answers ``TOKENS`` tokens with top-5 log-probabilities (some without ids, two of them pieces of one
multi-byte character that read alike as text); the last user message steers it:

* ``hold``: the answer waits until :attr:`FaultyUpstream.release` is set (a fault can be staged meanwhile);
* ``break``: a stream sends ``BREAK_AFTER`` chunks, then the connection breaks (no ``[DONE]``);
* ``slow``: a stream sends a chunk every :data:`SLOW_STEP` seconds (a client can leave in the middle).
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

MODEL = "served-model"
TOKENS = ["Ap", "proved", " \ufffd", "\ufffd", " ok", "."]  # tokens 2 and 3: two bytes of one character
RAW = [b"Ap", b"proved", b" \xe6", b"\x97", b" ok", b"."]
BREAK_AFTER = 3
SLOW_STEP = 0.2


def _entry(i: int) -> dict[str, Any]:
    entry: dict[str, Any] = {"token": TOKENS[i], "logprob": -0.5 - i, "bytes": list(RAW[i])}
    if i not in (2, 3):  # the pieces of the character come without ids: stand-ins must tell them apart
        entry["id"] = 100 + i
    entry["top_logprobs"] = [dict(entry)] + [
        {"token": f" alt{k}", "logprob": -3.0 - k, "bytes": list(f" alt{k}".encode()), "id": 900 + k} for k in range(4)
    ]
    return entry


class FaultyUpstream:
    def __init__(self) -> None:
        self.release = threading.Event()
        self.release.set()
        self.held = 0  # "hold" requests that have arrived
        self.app = Starlette(
            routes=[
                Route("/v1/models", self.models),
                Route("/v1/chat/completions", self.chat, methods=["POST"]),
                Route("/v1/completions", self.text, methods=["POST"]),
            ]
        )

    async def models(self, request: Request) -> JSONResponse:
        return JSONResponse({"object": "list", "data": [{"id": MODEL, "object": "model"}]})

    async def text(self, request: Request) -> JSONResponse:
        """A text completion (not streamed): the same tokens, log-probabilities as the legacy API gives them."""
        body = json.loads(await request.body())
        logprobs = {
            "tokens": TOKENS,
            "token_logprobs": [-0.5 - i for i in range(len(TOKENS))],
            "top_logprobs": [{TOKENS[i]: -0.5 - i, " alt0": -3.0} for i in range(len(TOKENS))],
        }
        choice = {"index": 0, "text": "".join(TOKENS), "logprobs": logprobs, "finish_reason": "stop"}
        return JSONResponse(
            {"id": "cmpl-up", "object": "text_completion", "created": 1, "model": body["model"], "choices": [choice]}
        )

    async def chat(self, request: Request):
        body = json.loads(await request.body())
        said = body["messages"][-1]["content"]
        head = {"id": "chatcmpl-up", "created": 1, "model": body["model"], "system_fingerprint": "fp_up"}
        if said == "hold":
            self.held += 1
            while not self.release.is_set():
                await asyncio.sleep(0.01)
        if not body.get("stream"):
            message = {"role": "assistant", "content": "".join(TOKENS)}
            choice = {"index": 0, "message": message, "logprobs": {"content": [_entry(i) for i in range(len(TOKENS))]}}
            return JSONResponse({**head, "object": "chat.completion", "choices": [{**choice, "finish_reason": "stop"}]})

        async def chunks():
            for i in range(len(TOKENS)):
                if said == "break" and i == BREAK_AFTER:
                    raise ConnectionAbortedError("the upstream broke off")  # uvicorn drops the connection
                if said == "slow":
                    await asyncio.sleep(SLOW_STEP)
                delta = {"index": 0, "delta": {"content": TOKENS[i]}, "logprobs": {"content": [_entry(i)]}}
                yield f"data: {json.dumps({**head, 'object': 'chat.completion.chunk', 'choices': [delta]})}\n\n"
            last = {"index": 0, "delta": {}, "finish_reason": "stop"}
            yield f"data: {json.dumps({**head, 'object': 'chat.completion.chunk', 'choices': [last]})}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(chunks(), media_type="text/event-stream")
