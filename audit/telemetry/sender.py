"""Spans built with the OpenTelemetry SDK and sent over OTLP/HTTP (protobuf), each batch counted as sent or dropped.

The SDK builds each span (ids, resource, attributes, events) exactly as an instrumented application
would; instead of the SDK's background batch processor, the caller hands over whole batches and gets
the outcome, so a span the endpoint did not take is counted as dropped (``/metrics`` of ``serve`` and
``proxy``, the output of ``otel-export``) rather than lost silently.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable
from dataclasses import dataclass

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import SpanKind

from .. import __version__
from .spans import SpanSpec

TRACES_PATH = "/v1/traces"
# The exporter logs each failed request; the sender counts them instead (dropped spans, in /metrics or the
# command's output), so a down collector does not fill a server's log with a line per second.
logging.getLogger("opentelemetry.exporter.otlp.proto.http").setLevel(logging.CRITICAL)


def traces_url(endpoint: str) -> str:
    """An OTLP/HTTP endpoint as given (``http://collector:4318``) with the traces path added when missing."""
    base = endpoint.rstrip("/")
    return base if base.endswith(TRACES_PATH) else base + TRACES_PATH


class _RecordIds(IdGenerator):
    """Trace ids from the record's own UUID (set before each span), random span ids."""

    def __init__(self) -> None:
        self.next_trace = 1
        self.random = random.Random()

    def generate_trace_id(self) -> int:
        return self.next_trace

    def generate_span_id(self) -> int:
        return self.random.getrandbits(64) or 1


class _Collect(SpanProcessor):
    def __init__(self) -> None:
        self.done: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        self.done.append(span)


@dataclass
class Outcome:
    sent: int = 0
    dropped: int = 0


class Sender:
    def __init__(self, endpoint: str, timeout: float = 10.0, exporter: object | None = None) -> None:
        self.url = traces_url(endpoint)
        self.ids = _RecordIds()
        self.collect = _Collect()
        self.provider = TracerProvider(
            resource=Resource.create({"service.name": "llm-audit", "service.version": __version__}),
            id_generator=self.ids,
        )
        self.provider.add_span_processor(self.collect)
        self.tracer = self.provider.get_tracer("llm-audit", __version__)
        self.exporter = exporter or OTLPSpanExporter(endpoint=self.url, timeout=timeout)

    def build(self, spec: SpanSpec) -> None:
        self.ids.next_trace = spec.trace_id
        span = self.tracer.start_span(
            spec.name, kind=SpanKind.CLIENT, attributes=spec.attributes, start_time=spec.start_ns
        )
        for event in spec.span_events:
            span.add_event(event.name, event.attributes, timestamp=event.time_ns)
        span.end(end_time=spec.end_ns)

    def send(self, specs: Iterable[SpanSpec]) -> Outcome:
        """Build and export these spans in one request; all are sent or all are counted dropped."""
        for spec in specs:
            self.build(spec)
        batch, self.collect.done = self.collect.done, []
        if not batch:
            return Outcome()
        try:
            ok = self.exporter.export(batch) == SpanExportResult.SUCCESS
        except Exception:  # noqa: BLE001 - an exporter failure of any kind is a dropped batch, never a crash
            ok = False
        return Outcome(len(batch), 0) if ok else Outcome(0, len(batch))

    def close(self) -> None:
        self.exporter.shutdown()
        self.provider.shutdown()
