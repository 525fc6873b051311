"""The recording proxy: the OpenAI API in front of another OpenAI-compatible server, every answer recorded.

Each request is forwarded with what a record needs added: a seed (the proxy picks one when the
client sends none, so the generation can be re-sent), log-probabilities with the top 5
alternatives, vLLM's ``return_token_ids`` (dropped for good if the upstream refuses it) and, when
``--model-path`` gives the weights' defaults, an explicit ``max_tokens``. What the client did not
ask for is removed from what it receives. The answer is recorded (:func:`audit.traffic.proxied.proxied_record`)
by the one writer thread, with the Auditor's privacy policy, before the client gets the end of
it: a whole response after the commit, a stream chunk by chunk as the upstream sends them and
its ``[DONE]`` after the commit. The upstream's errors reach the client as they are, and nothing
is recorded for them.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from starlette.responses import Response, StreamingResponse

from ..errors import UserError
from ..ids import uuid7
from ..params import GenerationParams, effective_config
from ..store import check_writable
from ..traffic.answer import Answer, strip_for_client
from ..traffic.proxied import ServedWeights, proxied_record
from .context import client_content, generation_request, parameter_inputs
from .errors import ApiError, bad_request, not_stored
from .metrics import Metrics
from .render import sse
from .responses import RECORD_HEADER, json_response
from .schema import TOP_LOGPROBS, ChatRequest, CompletionRequest
from .service import CHAT, audit_tags, served_parameters
from .worker import RecordWriter

if TYPE_CHECKING:
    from ..auditor import Auditor
    from ..record import GenerationRecord

UPSTREAM_PATHS = {CHAT: "/chat/completions", "/v1/completions": "/completions"}


def upstream_error(response: httpx.Response, body: bytes) -> Response:
    """The upstream's refusal as the client should see it: its status and, if OpenAI-shaped, its body."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if not (isinstance(data, dict) and isinstance(data.get("error"), dict)):
        text = body.decode("utf-8", "replace")[:300]
        data = ApiError(response.status_code, f"the upstream answered {response.status_code}: {text}").body()
    return json_response(data, response.status_code)


class ProxyBackend:
    """Records what passes to ``upstream`` (a base URL such as ``http://gpu-1:8000/v1``)."""

    def __init__(
        self,
        auditor: Auditor,
        upstream: str,
        *,
        upstream_key: str | None = None,
        model_path: str | Path | None = None,
        timeout: float = 600.0,
        queue_size: int = 32,
        use_case: str = "general",
    ) -> None:
        if not upstream.startswith(("http://", "https://")):
            raise UserError(f"--upstream {upstream!r} is not an http(s) URL: pass e.g. http://127.0.0.1:8001/v1")
        self.auditor = auditor
        self.db_path = auditor.db_path
        self.upstream = upstream.rstrip("/")
        self.upstream_key = upstream_key
        self.weights = ServedWeights.load(Path(model_path)) if model_path is not None else None
        self.timeout = timeout
        self.limit = queue_size
        self.use_case = use_case
        self.inflight = 0
        self.ask_token_ids = True
        self.metrics = Metrics(self.db_path)
        self.writer = RecordWriter(self.db_path, auditor.privacy, self.metrics)
        self.client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task] = set()

    # -- lifecycle --------------------------------------------------------------------------------------
    def start(self) -> None:
        check_writable(self.db_path)
        if self.auditor.policy is not None:
            self.auditor.privacy.check_key_store()
        if self.weights is not None:
            self.weights.id_of("")  # build the vocabulary lookup now, not on the event loop's first request
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(self.timeout, connect=10.0))
        self.writer.start()

    def stop(self) -> None:
        self.writer.stop()
        self.writer.join(timeout=60)

    async def aclose(self) -> None:
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=self.timeout)
        if self.client is not None:
            await self.client.aclose()

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.upstream_key}"} if self.upstream_key else {}

    async def models(self) -> list[dict[str, Any]]:
        assert self.client is not None
        try:
            response = await self.client.get(self.upstream + "/models", headers=self._headers(), timeout=30.0)
            response.raise_for_status()
            return list(response.json().get("data", []))
        except (httpx.HTTPError, ValueError) as exc:
            raise ApiError(502, f"the upstream {self.upstream} did not list its models ({exc})") from None

    def health(self) -> tuple[int, dict[str, Any]]:
        body: dict[str, Any] = {"status": "ok", "upstream": self.upstream, "in_flight": self.inflight}
        body["database"] = str(self.db_path)
        try:
            check_writable(self.db_path)
            httpx.get(self.upstream + "/models", headers=self._headers(), timeout=5.0).raise_for_status()
        except (UserError, httpx.HTTPError) as exc:
            return 503, {**body, "status": "unavailable", "reason": str(exc)}
        return 200, body

    # -- a completion -------------------------------------------------------------------------------------
    async def complete(self, path: str, request: ChatRequest | CompletionRequest, operator: str) -> Response:
        if self.inflight >= self.limit:
            raise ApiError(
                429,
                f"{self.inflight} requests are in flight to the upstream (the limit): retry in 1 s",
                code="queue_full",
                headers={"Retry-After": "1"},
            )
        chat = path == CHAT
        context = request.audit_context()
        if context.decision is not None:
            raise bad_request(
                "llm_audit.decision needs the model to score its labels: send it to `llm-audit serve`, not the proxy",
                "llm_audit.decision",
                "unsupported_parameter",
            )
        seed = request.seed if request.seed is not None else secrets.randbelow(2**31)
        params = parameter_inputs(request)
        if self.weights is not None and params.get("max_new_tokens") is None:
            try:  # the weights' own default, so the upstream and the record agree on it
                given = GenerationParams.of(params)
                params["max_new_tokens"] = effective_config(self.weights.generation_config, given).max_new_tokens
            except UserError as exc:
                raise bad_request(str(exc)) from None
        completion_id = ("chatcmpl-" if chat else "cmpl-") + uuid7()
        tags: dict[str, Any] = {
            **audit_tags(context),
            "serve": {
                "endpoint": path,
                "completion_id": completion_id,
                "seed_chosen_by": "client" if request.seed is not None else "proxy",
                "parameters": served_parameters(request),
            },
        }
        content = client_content(request)
        if content:
            tags["content"] = content
        use_case = context.use_case or self.use_case
        generation = generation_request(
            request,
            context,
            seed=seed,
            use_case=use_case,
            operator=operator,
            tags=tags,
            record_id=uuid7(),
            params=params,
        )
        try:
            check_writable(self.db_path)
        except UserError as exc:
            raise not_stored(str(exc)) from None
        body = self._upstream_body(request, seed, generation.params, chat)
        sent = {k: v for k, v in body.items() if k not in ("messages", "prompt", "metadata", "user")}
        pending = {"request": generation, "upstream": self.upstream, "sent": sent, "weights": self.weights}
        top, ids = request.top_requested(), bool(request.return_token_ids)
        headers = {RECORD_HEADER: generation.record_id}
        self.inflight += 1
        if not request.stream:
            try:
                return await self._whole(path, body, pending, chat, top, ids, headers)
            finally:
                self.inflight -= 1
        return await self._streamed(path, body, pending, chat, top, ids, headers)

    def _upstream_body(
        self, request: ChatRequest | CompletionRequest, seed: int, params: GenerationParams, chat: bool
    ) -> dict[str, Any]:
        body = request.model_dump(exclude_none=True, exclude={"llm_audit", "metadata", "return_token_ids"})
        if request.client_metadata():
            body["metadata"] = request.client_metadata()
        body["seed"] = seed
        wanted = max(TOP_LOGPROBS, request.top_requested() or 0)
        if chat:
            body.update(logprobs=True, top_logprobs=wanted)
        else:
            body["logprobs"] = wanted
        if request.token_budget() is None and params.max_new_tokens is not None:
            body["max_tokens"] = params.max_new_tokens
        if self.ask_token_ids:
            body["return_token_ids"] = True
        return body

    def _refused_token_ids(self, status: int, text: str) -> bool:
        """An upstream that refuses vLLM's return_token_ids (OpenAI itself does): stop asking for it."""
        if self.ask_token_ids and status == 400 and "return_token_ids" in text:
            self.ask_token_ids = False
            return True
        return False

    async def _store(self, record: GenerationRecord) -> str:
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()

        def done(record_hash: str | None, error: ApiError | None) -> None:
            def settle() -> None:
                if not future.done():
                    future.set_exception(error) if error is not None else future.set_result(record_hash)

            loop.call_soon_threadsafe(settle)

        self.writer.submit(record, done)
        return await future

    def _record(self, pending: dict[str, Any], answer: Answer, started: float) -> GenerationRecord:
        return proxied_record(started=started, finished=time.time(), answer=answer, **pending)

    @staticmethod
    def _receipt(record: GenerationRecord, record_hash: str) -> dict[str, Any]:
        return {"record_id": record.id, "record_hash": record_hash, "seed": record.seed, "operator": record.operator}

    async def _post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        assert self.client is not None
        url = self.upstream + UPSTREAM_PATHS[path]
        try:
            response = await self.client.post(url, json=body, headers=self._headers())
            if self._refused_token_ids(response.status_code, response.text):
                body.pop("return_token_ids", None)
                response = await self.client.post(url, json=body, headers=self._headers())
            return response
        except httpx.TimeoutException:
            raise ApiError(504, f"the upstream {self.upstream} did not answer within {self.timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise ApiError(502, f"the upstream {self.upstream} could not be reached ({exc})") from None

    async def _whole(self, path, body, pending, chat, top, ids, headers) -> Response:
        started = time.time()
        response = await self._post(path, body)
        if response.status_code >= 400:
            return upstream_error(response, response.content)
        try:
            data = response.json()
        except ValueError:
            raise ApiError(502, f"the upstream {self.upstream} answered something that is not JSON") from None
        answer = Answer()
        answer.add_chunk(data, chat)
        record = self._record(pending, answer, started)
        record_hash = await self._store(record)
        out = strip_for_client(data, top, ids, chat)
        out["llm_audit"] = self._receipt(record, record_hash)
        return json_response(out, headers=headers)

    async def _streamed(self, path, body, pending, chat, top, ids, headers) -> Response:
        """Read the upstream on a task of its own, so a client that leaves does not stop the recording."""
        chunks: asyncio.Queue = asyncio.Queue()
        delivery = {"client_disconnected": False, "chunks": 0}  # chunks: received from the upstream
        assert self.client is not None
        url = self.upstream + UPSTREAM_PATHS[path]

        async def pump() -> None:
            started = time.time()
            answer = Answer()
            try:
                for attempt in range(2):
                    async with self.client.stream("POST", url, json=body, headers=self._headers()) as response:
                        if response.status_code >= 400:
                            text = await response.aread()
                            if attempt == 0 and self._refused_token_ids(
                                response.status_code, text.decode("utf-8", "replace")
                            ):
                                body.pop("return_token_ids", None)
                                continue
                            await chunks.put(("refused", upstream_error(response, text)))
                            return
                        await chunks.put(("open", None))
                        async for line in response.aiter_lines():
                            if not line.startswith("data:"):
                                continue
                            data = line[5:].strip()
                            if data == "[DONE]":
                                break
                            chunk = json.loads(data)
                            if "error" in chunk:  # the upstream failed mid-stream: nothing complete to record
                                await chunks.put(("error", chunk))
                                return
                            answer.add_chunk(chunk, chat)
                            delivery["chunks"] += 1
                            await chunks.put(("chunk", chunk))
                    break
                record = self._record(pending, answer, started)
                record.tags["serve"]["stream"] = dict(delivery)
                record_hash = await self._store(record)
                await chunks.put(("stored", (record, record_hash, answer)))
            except httpx.TimeoutException:
                await chunks.put(("fail", ApiError(504, f"the upstream {self.upstream} did not answer in time")))
            except (httpx.HTTPError, ValueError) as exc:
                await chunks.put(("fail", ApiError(502, f"the upstream stream broke off ({exc})")))
            except ApiError as exc:
                await chunks.put(("fail", exc))
            finally:
                self.inflight -= 1

        task = asyncio.create_task(pump())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        kind, value = await chunks.get()
        if kind == "refused":
            return value
        if kind == "fail":
            raise value
        return StreamingResponse(
            self._relay(chunks, delivery, chat, top, ids), media_type="text/event-stream", headers=headers
        )

    async def _relay(self, chunks: asyncio.Queue, delivery: dict[str, Any], chat, top, ids) -> AsyncIterator[bytes]:
        finished = False
        try:
            while True:
                kind, value = await chunks.get()
                if kind == "chunk":
                    yield sse(strip_for_client(value, top, ids, chat))
                elif kind in ("error", "fail"):
                    yield sse(value if kind == "error" else value.body())
                    finished = True
                    return
                elif kind == "stored":
                    record, record_hash, answer = value
                    last = {
                        "id": answer.completion_id,
                        "object": "chat.completion.chunk" if chat else "text_completion",
                        "created": answer.created,
                        "model": answer.model,
                        "choices": [],
                        "llm_audit": self._receipt(record, record_hash),
                    }
                    yield sse(last)
                    yield sse("[DONE]")
                    finished = True
                    return
        finally:
            if not finished:
                delivery["client_disconnected"] = True
