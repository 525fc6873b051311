"""The server's two threads: one runs the model (batch size 1), one writes the database.

Requests wait in a bounded queue for the model thread; a full queue is refused at once (429
with ``Retry-After``) instead of queueing without limit. The model thread generates one request
at a time, exactly as :func:`audit.recording.record_generation` does for ``Auditor.generate``
(batch size 1 is what keeps a replay exact), streaming tokens to the request as they come, and
hands the finished record to the writer thread (:mod:`.group_commit`), which is the only one
that writes the database (the privacy policy applied as for ``Auditor.generate``) and only then
answers the request: no completion without a record. Writing happens while the model thread
already runs the next request.
"""

from __future__ import annotations

import asyncio
import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import recording
from ..errors import UserError
from .errors import ApiError, bad_request

if TYPE_CHECKING:
    from ..model import LoadedModel
    from ..record import GenerationRecord
    from ..recording import GenerationRequest
    from .group_commit import GroupWriter
    from .metrics import Metrics
    from .render import Served

log = logging.getLogger("llm_audit.serve")


class Job:
    """One request on its way: queued, generated (streamed), delivered, committed.

    Results reach the request's event loop through ``events``: ``("text", piece)`` while a stream
    generates, then ``("stored", served)`` once committed, or ``("error", ApiError)``. A stream's
    record is committed once the generation is finished *and* the stream has either sent every
    token or lost its client, so the record can say how the delivery ended.
    """

    def __init__(
        self, request: GenerationRequest, loop: asyncio.AbstractEventLoop, *, stream: bool, meta: dict[str, Any]
    ) -> None:
        self.request = request
        self.meta = meta  # what the response needs besides the record (completion id, stops, ...)
        self.loop = loop
        self.stream = stream
        self.events: asyncio.Queue = asyncio.Queue()
        self.received = time.time()
        self.started: float | None = None
        self._lock = threading.Lock()
        self._served: Served | None = None
        self._delivery: dict[str, Any] | None = None  # set by settle(): how the answer is being delivered
        self._submit: Callable[[Job], None] | None = None

    def post(self, kind: str, value: Any) -> None:
        """Thread-safe: hand an event to the request's coroutine."""
        try:
            self.loop.call_soon_threadsafe(self.events.put_nowait, (kind, value))
        except RuntimeError:  # the loop has closed (server shutting down): nobody is listening
            pass

    @property
    def served(self) -> Served:
        assert self._served is not None
        return self._served

    def generated(self, served: Served, submit: Callable[[Job], None]) -> None:
        with self._lock:
            self._served, self._submit = served, submit
            ready = self._delivery is not None
        self.post("generated", served)
        if ready:
            submit(self)

    def settle(self, delivery: dict[str, Any]) -> None:
        """The stream has ended its delivery (``client_disconnected`` or not); commit if generated."""
        with self._lock:
            if self._delivery is not None:
                return
            self._delivery = delivery
            ready = self._served is not None
        if ready and self._submit is not None:
            self._submit(self)

    def serve_tags(self) -> dict[str, Any]:
        """How the request was served, added to the record's ``tags.serve`` before it is stored."""
        tags: dict[str, Any] = {"queue_wait_s": round((self.started or self.received) - self.received, 6)}
        if self.stream:
            tags["stream"] = dict(self._delivery or {})
        tags["delivery"] = delivery_of(self._delivery or {}, self.stream)
        return tags


def delivery_of(settled: dict[str, Any], stream: bool) -> dict[str, Any]:
    """``tags.serve.delivery`` of a served record as it is committed (see docs/serving.md, "Delivery").

    A whole response is answered once the record is committed, unless its client had already gone when
    the generation finished; a stream has sent ``chunks`` chunks of text before the commit, and either its
    client is still there (the receipt and ``[DONE]`` follow the commit) or it left at that chunk. A record
    refused by the database is marked ``refused`` instead (:func:`.group_commit.mark_refused`), in the
    journal it is kept in.
    """
    if not stream:
        gone = settled.get("client_disconnected")
        return {"state": "client_disconnected_before_answer" if gone else "answered_after_commit"}
    stream_state = settled
    chunks = int(stream_state.get("chunks_sent", stream_state.get("chunks", 0)))
    if stream_state.get("client_disconnected"):
        return {"state": "client_disconnected", "chunks": chunks}
    return {"state": "streamed", "chunks": chunks}


class StreamText:
    """Incremental text of a stream: each token's new text, held back while it may begin a stop string
    or ends inside a multi-byte character, so what is sent is always a prefix of the final text."""

    def __init__(self, tokenizer: Any, stops: list[str]) -> None:
        self.tokenizer = tokenizer
        self.stops = stops
        self.hold = max((len(s) for s in stops), default=1) - 1
        self.ids: list[int] = []
        self.text = ""  # decoded so far
        self.sent = ""
        self._prefix = self._read = 0  # decoding window: only the last token or two are decoded again

    def _decode_new(self) -> None:
        decode = self.tokenizer.decode
        before = decode(self.ids[self._prefix : self._read], skip_special_tokens=True)
        after = decode(self.ids[self._prefix :], skip_special_tokens=True)
        if len(after) > len(before) and not after.endswith("\ufffd"):  # not inside a multi-byte character
            self.text += after[len(before) :]
            self._prefix, self._read = self._read, len(self.ids)

    def piece(self, token_id: int) -> str:
        self.ids.append(token_id)
        self._decode_new()
        text = self.text
        found = [text.find(stop) for stop in self.stops if stop in text]
        safe = text[: min(found)] if found else text[: len(text) - self.hold] if self.hold else text
        if not safe.startswith(self.sent) or len(safe) <= len(self.sent):
            return ""
        piece, self.sent = safe[len(self.sent) :], safe
        return piece

    def rest(self, final: str) -> str:
        """What is left to send of ``final`` (the record's visible text), once generation has ended."""
        return final[len(self.sent) :] if final.startswith(self.sent) else ""


def request_error(exc: UserError, prompt_param: str) -> ApiError:
    """What only the model can refuse (the prompt against its context, decision labels against its tokenizer),
    worded for an HTTP client."""
    message = (
        str(exc)
        .replace("lower --max-new-tokens", "lower max_tokens")
        .replace("raise --max-new-tokens", "raise max_tokens")
    )
    if "label" in message and "max_new_tokens" not in message:  # labels that tokenise alike, or collide
        return bad_request(message, "llm_audit.decision.labels")
    param = "max_tokens" if "max_new_tokens" in message else prompt_param if "context" in message else None
    return bad_request(message, param, "context_length_exceeded" if "context" in message else None)


def _reason(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


class ModelWorker(threading.Thread):
    """The one thread that runs the model, one request at a time, from a bounded queue."""

    def __init__(
        self,
        loaded: LoadedModel,
        writer: GroupWriter,
        render: Callable[[Job, GenerationRecord, StreamText | None], Served],
        metrics: Metrics,
        queue_size: int = 32,
    ) -> None:
        super().__init__(name="llm-audit-model", daemon=True)
        self.loaded = loaded
        self.writer = writer
        self.render = render
        self.metrics = metrics
        self.queue_size = queue_size
        self.jobs: queue.Queue = queue.Queue(maxsize=queue_size)
        # Held while generating: whoever else runs this model in the process (a benchmark) takes it too.
        self.model_lock = threading.Lock()
        self.busy = False
        self.seconds = 1.0  # moving average of one generation, for Retry-After

    def depth(self) -> int:
        """Requests waiting or generating."""
        return self.jobs.qsize() + int(self.busy)

    def submit(self, job: Job) -> None:
        try:
            self.jobs.put_nowait(job)
        except queue.Full:
            wait = max(1, math.ceil(self.seconds * (self.queue_size + 1)))
            raise ApiError(
                429,
                f"the model queue is full ({self.queue_size} requests waiting): retry in {wait} s",
                code="queue_full",
                headers={"Retry-After": str(wait)},
            ) from None
        self.metrics.queue_depth.set(self.depth())

    def stop(self) -> None:
        """Refuse what is still queued and end the thread after the current generation."""
        while True:
            try:
                job = self.jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                job.post("error", ApiError(503, "the server is shutting down: retry on another instance"))
        self.jobs.put(None)

    def run(self) -> None:
        while (job := self.jobs.get()) is not None:
            self.busy = True
            self.metrics.queue_depth.set(self.depth())
            try:
                self._run(job)
            finally:
                self.busy = False
                self.metrics.queue_depth.set(self.depth())

    def _run(self, job: Job) -> None:
        text = StreamText(self.loaded.tokenizer, job.meta["stops"]) if job.stream else None

        def on_token(token_id: int) -> None:
            piece = text.piece(token_id) if text is not None else ""
            if piece:
                job.post("text", piece)

        try:
            with self.model_lock:
                job.started = time.time()
                record = recording.record_generation(self.loaded, job.request, on_token if job.stream else None)
                served = self.render(job, record, text)
        except UserError as exc:
            job.post("error", request_error(exc, job.meta.get("prompt_param", "messages")))
            return
        except Exception as exc:  # noqa: BLE001 - a bug: the client gets a 500, the server keeps serving
            log.exception("generation failed")
            job.post("error", ApiError(500, f"generation failed ({type(exc).__name__}: {_reason(exc)})"))
            return
        self.seconds = 0.8 * self.seconds + 0.2 * (time.time() - job.started)
        job.generated(served, self._commit)

    def _commit(self, job: Job) -> None:
        record = job.served.record
        record.tags = {**record.tags, "serve": {**record.tags.get("serve", {}), **job.serve_tags()}}

        def done(record_hash: str | None, error: ApiError | None) -> None:
            if error is not None:
                job.post("error", error)
            else:
                job.served.record_hash = record_hash
                job.post("stored", job.served)

        self.writer.submit(record, done)
