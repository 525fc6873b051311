"""The recording server's backend: an OpenAI request in, one recorded generation out.

Each request goes through the steps of ``Auditor.generate``, in the same functions: the request
becomes a :class:`audit.recording.GenerationRequest` (:func:`.context.generation_request`, with
the API key's name as the operator), the database is checked writable, the model thread runs
:func:`audit.recording.record_generation`, and the writer thread stores with the Auditor's
privacy guard. The response is built from the committed record.
"""

from __future__ import annotations

import asyncio
import copy
import secrets
import threading
import time
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from starlette.responses import Response, StreamingResponse

from .. import recording
from ..errors import UserError
from ..ids import uuid7
from .context import client_content, generation_request
from .errors import bad_request, not_stored
from .group_commit import GroupWriter
from .metrics import Metrics
from .render import Served, sse, stream_head, system_fingerprint, text_chunk, visible_text
from .responses import RECORD_HEADER, json_response
from .schema import AuditContext, ChatRequest, CompletionRequest
from .worker import Job, ModelWorker, StreamText, request_error
from .writable import next_write_fails, unwritable_reason

if TYPE_CHECKING:
    from ..auditor import Auditor
    from ..record import GenerationRecord

RESERVED_TAGS = ("serve", "proxy", "content", "privacy")
CHAT, COMPLETION = "/v1/chat/completions", "/v1/completions"


def audit_tags(context: AuditContext) -> dict[str, Any]:
    labels = dict(context.tags or {})
    reserved = sorted(set(labels) & set(RESERVED_TAGS))
    if reserved:
        raise bad_request(f"llm_audit.tags may not use the reserved name(s) {', '.join(reserved)}", "llm_audit.tags")
    return labels


def served_parameters(request: ChatRequest | CompletionRequest) -> dict[str, Any]:
    """The OpenAI parameters as the client sent them (no content): shown beside the effective config."""
    names = ("max_tokens", "max_completion_tokens", "temperature", "top_p", "seed", "stop", "logprobs", "top_logprobs")
    return {name: getattr(request, name) for name in names if getattr(request, name, None) is not None}


class LocalBackend:
    """Serves the Auditor's model; ``model_name`` is the name clients send (default: the model's)."""

    def __init__(
        self, auditor: Auditor, *, model_name: str | None = None, queue_size: int = 32, use_case: str = "general"
    ) -> None:
        self.auditor = auditor
        self.loaded = auditor.loaded
        self.db_path = auditor.db_path
        self.use_case = use_case
        identity = self.loaded.identity
        self.names = {identity.name, *([model_name] if model_name else [])}
        self.name = model_name or identity.name
        dtype = str(self.loaded.dtype).replace("torch.", "")
        self.fingerprint = system_fingerprint(identity, dtype, str(self.loaded.device))
        self.metrics = Metrics(self.db_path)
        self.writer = GroupWriter(self.db_path, auditor.privacy, self.metrics)
        self.worker = ModelWorker(self.loaded, self.writer, self._render, self.metrics, queue_size)
        loaded = self.loaded  # what prepare() reads: the generation defaults, a tokenizer, the context length
        self._checker = SimpleNamespace(
            model=SimpleNamespace(generation_config=loaded.model.generation_config),
            tokenizer=copy.deepcopy(loaded.tokenizer),
            identity=loaded.identity,
        )
        self._check_lock = threading.Lock()

    # -- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> None:
        recording.check_storable(self.db_path, self.auditor.privacy)
        self.writer.start()
        self.worker.start()

    def stop(self) -> None:
        self.worker.stop()
        self.worker.join(timeout=120)
        self.writer.stop()
        self.writer.join(timeout=60)

    async def models(self) -> list[dict[str, Any]]:
        return [{"id": self.name, "object": "model", "created": 0, "owned_by": "llm-audit"}]

    def health(self) -> tuple[int, dict[str, Any]]:
        body = {
            "status": "ok",
            "model": self.name,
            "system_fingerprint": self.fingerprint,
            "queue_depth": self.worker.depth(),
            "queue_size": self.worker.queue_size,
            "database": self.db_path.name,
        }
        reason = next_write_fails(self.db_path, self.writer)
        if reason is not None:
            return 503, {**body, "status": "not writable", "reason": reason}
        return 200, body

    # -- a completion -----------------------------------------------------------------------------------
    async def complete(
        self, path: str, request: ChatRequest | CompletionRequest, operator: str, disconnected: Any = None
    ) -> Response:
        if request.model not in self.names:
            raise bad_request(
                f"model {request.model!r} is not served here: use {self.name!r} (GET /v1/models)",
                "model",
                "model_not_found",
            )
        context = request.audit_context()
        seed = request.seed if request.seed is not None else secrets.randbelow(2**31)
        completion_id = ("chatcmpl-" if path == CHAT else "cmpl-") + uuid7()
        tags = {
            **audit_tags(context),
            "serve": {
                "endpoint": path,
                "completion_id": completion_id,
                "model": self.name,
                "seed_chosen_by": "client" if request.seed is not None else "server",
                "parameters": served_parameters(request),
            },
        }
        content = client_content(request)
        if content:
            tags["content"] = content
        use_case = context.use_case or self.use_case
        generation = generation_request(
            request, context, seed=seed, use_case=use_case, operator=operator, tags=tags, record_id=uuid7()
        )
        prompt_param = "messages" if path == CHAT else "prompt"
        try:  # the prompt against the context, before the queue: a 400 now, not after the requests ahead of it
            await asyncio.to_thread(self._fits, generation)
        except UserError as exc:
            raise request_error(exc, prompt_param) from None
        refused = unwritable_reason(self.db_path)
        if refused is not None:
            raise not_stored(refused)
        top, ids = request.top_requested(), bool(request.return_token_ids)
        meta = {
            "stops": request.stops(),
            "completion_id": completion_id,
            "created": int(time.time()),
            "offsets": path == COMPLETION and top is not None,
            "prompt_param": prompt_param,  # text_offset: only the legacy endpoint has it
        }
        job = Job(generation, asyncio.get_running_loop(), stream=bool(request.stream), meta=meta)
        self.worker.submit(job)
        headers = {RECORD_HEADER: generation.record_id}
        if not request.stream:
            served = await _stored(job, disconnected)
            body = served.chat(top, ids) if path == CHAT else served.completion(top, ids)
            return json_response(body, headers=headers)
        first = await job.events.get()
        if first[0] == "error":
            job.settle({"client_disconnected": False, "chunks_sent": 0})
            raise first[1]
        chunks = self._stream(job, first, path == CHAT, top, ids, request.wants_usage_chunk())
        return StreamingResponse(chunks, media_type="text/event-stream", headers=headers)

    async def _stream(
        self, job: Job, first: tuple[str, Any], chat: bool, top: int | None, ids: bool, usage: bool
    ) -> AsyncIterator[bytes]:
        meta = job.meta
        head = stream_head(chat, meta["completion_id"], meta["created"], self.name, self.fingerprint)
        sent = 0
        try:
            if chat:
                yield sse(text_chunk(head, chat, "", first=True))
            kind, value = first
            while True:
                if kind == "text":
                    yield sse(text_chunk(head, chat, value))
                    sent += 1
                elif kind == "generated":
                    job.settle({"client_disconnected": False, "chunks_sent": sent})
                elif kind == "stored":
                    for chunk in value.final_chunks(chat, value.rest, top, ids, usage):
                        yield sse(chunk)
                    yield sse("[DONE]")
                    return
                elif kind == "error":
                    # Tokens already sent cannot be taken back; the stream ends with an error and no [DONE],
                    # so the openai client raises instead of returning a completion.
                    yield sse(value.body())
                    return
                kind, value = await job.events.get()
        finally:
            job.settle({"client_disconnected": True, "chunks_sent": sent})

    def _fits(self, generation: Any) -> None:
        """:func:`audit.recording.prepare`'s context check, on a copy of the tokenizer of its own (the model
        thread uses the original meanwhile; fast tokenizers must not be shared across threads)."""
        with self._check_lock:
            recording.prepare(self._checker, generation)

    def _render(self, job: Job, record: GenerationRecord, text: StreamText | None) -> Served:
        """What the client will receive of ``record`` (runs in the model thread, which owns the tokenizer)."""
        tokenizer = self.loaded.tokenizer
        ids = record.output_ids
        offsets = (
            [len(tokenizer.decode(ids[:i], skip_special_tokens=True)) for i in range(len(ids))]
            if job.meta["offsets"]
            else []
        )
        visible = visible_text(record.output_text, record.finish_reason, job.meta["stops"])
        return Served(
            record=record,
            text=visible,
            tokens=[tokenizer.decode([token]) for token in ids],
            offsets=offsets,
            completion_id=job.meta["completion_id"],
            created=job.meta["created"],
            model=self.name,
            fingerprint=self.fingerprint,
            rest=text.rest(visible) if text is not None else "",
        )


async def _stored(job: Job, disconnected: Any) -> Served:
    """A whole response's record, committed once the generation is done and the client's presence known."""
    try:
        while True:
            kind, value = await job.events.get()
            if kind == "generated":
                gone = disconnected is not None and await disconnected()
                job.settle({"client_disconnected": bool(gone)})
            elif kind == "stored":
                return value
            elif kind == "error":
                raise value
    finally:
        job.settle({"client_disconnected": True})  # no-op once settled; else the request is gone (cancelled)
