"""The recording proxy: the OpenAI API in front of another OpenAI-compatible server, every answer recorded.

Each request is forwarded with what a record needs added: a seed (the proxy picks one when the
client sends none, so the generation can be re-sent), log-probabilities with the top 5
alternatives, vLLM's ``return_token_ids`` (dropped for good if the upstream refuses it) and, when
``--model-path`` gives the weights' defaults, an explicit ``max_tokens``. What the client did not
ask for is removed from what it receives. The answer is recorded (:func:`audit.traffic.proxied.proxied_record`,
built on the writer thread, never on the event loop) by the group-commit writer (:mod:`.group_commit`),
with the Auditor's privacy policy, before the client gets the end of it: a whole response after the
commit, a stream chunk by chunk as the upstream sends them and its ``[DONE]`` after the commit
(:mod:`.proxy_stream`). Each record says how the answer was delivered (``tags.serve.delivery``). The
upstream's refusals reach the client as they are, and nothing is recorded for them. The model's name
comes from the upstream's ``/v1/models`` (re-read every :data:`MODELS_TTL` seconds), never from
what the client asked for or what an answer echoes back.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import httpx
from starlette.responses import Response

from ..environment import remote_environment
from ..errors import UserError
from ..ids import uuid7
from ..params import GenerationParams, effective_config
from ..store import check_writable
from ..traffic.answer import Answer, served_model, strip_for_client
from ..traffic.proxied import ServedWeights, proxied_record
from . import json_codec
from .context import client_content, generation_request, parameter_inputs
from .errors import ApiError, bad_request, not_stored
from .group_commit import GroupWriter
from .metrics import Metrics
from .proxy_stream import UPSTREAM_PATHS, stream_through, upstream_error
from .responses import RECORD_HEADER, json_response
from .schema import TOP_LOGPROBS, ChatRequest, CompletionRequest
from .service import CHAT, audit_tags, served_parameters
from .writable import next_write_fails, unwritable_reason

if TYPE_CHECKING:
    from ..auditor import Auditor
    from ..record import GenerationRecord

MODELS_TTL = 60.0  # seconds between two reads of the upstream's /v1/models


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
        self.writer = GroupWriter(self.db_path, auditor.privacy, self.metrics, expected=lambda: self.inflight)
        self.client: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task] = set()
        self._settled: list[tuple[asyncio.Future, str | None, ApiError | None]] = []  # answers to hand to the loop
        self._settle_lock = threading.Lock()
        self.host = remote_environment("upstream", self.upstream)  # this process's facts, read once
        self._listed: tuple[float, list[str]] = (-MODELS_TTL, [])

    # -- lifecycle --------------------------------------------------------------------------------------
    def start(self) -> None:
        check_writable(self.db_path)
        if self.auditor.policy is not None:
            self.auditor.privacy.check_key_store()
        if self.weights is not None:
            self.weights.id_of("")  # build the vocabulary lookup now, not on the event loop's first request
        # aiohttp, not httpx, on the hot path: about a seventh of httpx's CPU per upstream call (measured
        # against the benchmark's fake upstream: 0.26 ms against 1.8 ms), which set the proxy's throughput.
        timeout = aiohttp.ClientTimeout(total=None, connect=10.0, sock_read=self.timeout)  # per read, as httpx had it
        self.client = aiohttp.ClientSession(
            timeout=timeout, connector=aiohttp.TCPConnector(limit=0), raise_for_status=False
        )
        self.writer.start()

    def stop(self) -> None:
        self.writer.stop()
        self.writer.join(timeout=60)

    async def aclose(self) -> None:
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=self.timeout)
        if self.client is not None:
            await self.client.close()

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.upstream_key}"} if self.upstream_key else {}

    def json_headers(self) -> dict[str, str]:
        return {**self.headers(), "Content-Type": "application/json"}

    async def models(self) -> list[dict[str, Any]]:
        assert self.client is not None
        try:
            timeout = aiohttp.ClientTimeout(total=30.0)
            async with self.client.get(self.upstream + "/models", headers=self.headers(), timeout=timeout) as response:
                response.raise_for_status()
                return list(json.loads(await response.read()).get("data", []))
        except (TimeoutError, aiohttp.ClientError, ValueError, AttributeError) as exc:
            reason = f"{type(exc).__name__}: {exc}".rstrip(": ")
            raise ApiError(502, f"the upstream {self.upstream} did not list its models ({reason})") from None

    async def listed_models(self) -> list[str]:
        """The ids the upstream's ``/v1/models`` lists (cached :data:`MODELS_TTL` s; [] if it lists none)."""
        at, listed = self._listed
        if time.monotonic() - at < MODELS_TTL:
            return listed
        try:
            listed = [str(m.get("id")) for m in await self.models() if isinstance(m, dict) and m.get("id")]
        except ApiError:
            listed = []
        self._listed = (time.monotonic(), listed)
        return listed

    def health(self) -> tuple[int, dict[str, Any]]:
        body: dict[str, Any] = {"status": "ok", "upstream": self.upstream, "in_flight": self.inflight}
        body["database"] = self.db_path.name
        reason = next_write_fails(self.db_path, self.writer)
        if reason is not None:
            return 503, {**body, "status": "not writable", "reason": reason}
        try:
            httpx.get(self.upstream + "/models", headers=self.headers(), timeout=5.0).raise_for_status()
        except httpx.HTTPError as exc:
            return 503, {**body, "status": "upstream unavailable", "reason": f"{type(exc).__name__}: {exc}"}
        return 200, body

    # -- a completion -------------------------------------------------------------------------------------
    async def complete(
        self, path: str, request: ChatRequest | CompletionRequest, operator: str, disconnected=None
    ) -> Response:
        """``disconnected()``: whether the client has gone (awaited once the upstream answered)."""
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
        refused = unwritable_reason(self.db_path)
        if refused is not None:
            raise not_stored(refused)
        body = self._upstream_body(request, seed, generation.params, chat)
        sent = {k: v for k, v in body.items() if k not in ("messages", "prompt", "metadata", "user")}
        pending = {
            "request": generation,
            "upstream": self.upstream,
            "sent": sent,
            "weights": self.weights,
            "host": self.host,
            "model_name": served_model(await self.listed_models(), request.model),
            "requested_model": request.model,
        }
        top, ids = request.top_requested(), bool(request.return_token_ids)
        headers = {RECORD_HEADER: generation.record_id}
        self.inflight += 1
        if not request.stream:
            try:
                return await self._whole(path, body, pending, chat, top, ids, headers, disconnected)
            finally:
                self.inflight -= 1
        return await stream_through(self, path, body, pending, chat, top, ids, headers)

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

    def refused_token_ids(self, status: int, text: str) -> bool:
        """An upstream that refuses vLLM's return_token_ids (OpenAI itself does): stop asking for it."""
        if self.ask_token_ids and status == 400 and "return_token_ids" in text:
            self.ask_token_ids = False
            return True
        return False

    async def store(
        self, pending: dict[str, Any], answer: Answer, started: float, delivery: dict[str, Any]
    ) -> tuple[GenerationRecord, str]:
        """Have the writer build the record (off the event loop) and commit it; the record and its payload hash.

        ``delivery``: ``tags.serve.delivery``, what happened to the answer up to the commit.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()
        finished = time.time()
        built: list[GenerationRecord] = []

        def build() -> GenerationRecord:
            record = proxied_record(started=started, finished=finished, answer=answer, **pending)
            record.tags["serve"] = {**record.tags["serve"], "delivery": delivery}
            built.append(record)
            return record

        def done(record_hash: str | None, error: ApiError | None) -> None:
            self._settle(loop, future, record_hash, error)

        self.writer.submit(build, done)
        record_hash = await future
        return built[0], record_hash

    def _settle(
        self, loop: asyncio.AbstractEventLoop, future: asyncio.Future, record_hash: str | None, error: ApiError | None
    ) -> None:
        """On the writer thread: hand an answer to the event loop. The answers of one batch go in one wake-up of the
        loop (the first schedules it, the others join it), not one cross-thread call each."""
        with self._settle_lock:
            self._settled.append((future, record_hash, error))
            if len(self._settled) > 1:
                return
        loop.call_soon_threadsafe(self._settle_all)

    def _settle_all(self) -> None:
        with self._settle_lock:
            settled, self._settled = self._settled, []
        for future, record_hash, error in settled:
            if not future.done():
                future.set_exception(error) if error is not None else future.set_result(record_hash)

    @staticmethod
    def receipt(record: GenerationRecord, record_hash: str) -> dict[str, Any]:
        return {"record_id": record.id, "record_hash": record_hash, "seed": record.seed, "operator": record.operator}

    async def _send(self, url: str, body: dict[str, Any]) -> tuple[int, bytes]:
        assert self.client is not None
        payload = json.dumps(body).encode()
        async with self.client.post(url, data=payload, headers=self.json_headers()) as response:
            return response.status, await response.read()

    async def _post(self, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
        """The upstream's status and body (a refused ``return_token_ids`` retried once without it)."""
        url = self.upstream + UPSTREAM_PATHS[path]
        try:
            status, content = await self._send(url, body)
            if self.refused_token_ids(status, content.decode("utf-8", "replace")):
                body.pop("return_token_ids", None)
                status, content = await self._send(url, body)
            return status, content
        except TimeoutError:
            raise ApiError(504, f"the upstream {self.upstream} did not answer within {self.timeout:g} s") from None
        except aiohttp.ClientError as exc:
            reason = f"{type(exc).__name__}: {exc}".rstrip(": ")
            raise ApiError(502, f"the upstream {self.upstream} could not be reached ({reason})") from None

    async def _whole(self, path, body, pending, chat, top, ids, headers, disconnected) -> Response:
        started = time.time()
        status, content = await self._post(path, body)
        if status >= 400:
            return upstream_error(status, content)
        try:
            data, strict = json_codec.loads(content)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise ApiError(502, f"the upstream {self.upstream} answered something that is not a JSON object")
        answer = Answer()
        answer.add_chunk(data, chat)
        gone = disconnected is not None and await disconnected()
        delivery = {"state": "client_disconnected_before_answer" if gone else "answered_after_commit"}
        record, record_hash = await self.store(pending, answer, started, delivery)
        out = strip_for_client(data, top, ids, chat)
        out["llm_audit"] = self.receipt(record, record_hash)
        return json_response(out, headers=headers, strict=strict)
