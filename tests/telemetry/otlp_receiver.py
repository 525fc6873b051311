"""An in-process OTLP/HTTP receiver for the telemetry tests: a tiny HTTP server on a free loopback port that
decodes each ``POST /v1/traces`` body with the ``opentelemetry-proto`` package and keeps the spans."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


def value(v: Any) -> Any:
    """An OTLP AnyValue as Python."""
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [value(x) for x in v.array_value.values]
    return getattr(v, kind) if kind else None


def attributes(items: Any) -> dict[str, Any]:
    return {kv.key: value(kv.value) for kv in items}


class Receiver:
    """``with Receiver() as r``: ``r.url``; ``r.spans`` (decoded), ``r.requests``; ``status`` answers with that code."""

    def __init__(self, status: int = 200) -> None:
        self.spans: list[dict[str, Any]] = []
        self.resources: list[dict[str, Any]] = []
        self.requests = 0
        self.status = status
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server protocol
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                with receiver.lock:
                    receiver.requests += 1
                    if receiver.status == 200 and self.path == "/v1/traces":
                        for rs in request.resource_spans:
                            receiver.resources.append(attributes(rs.resource.attributes))
                            for ss in rs.scope_spans:
                                for span in ss.spans:
                                    receiver.spans.append(
                                        {
                                            "name": span.name,
                                            "trace_id": span.trace_id.hex(),
                                            "start": span.start_time_unix_nano,
                                            "end": span.end_time_unix_nano,
                                            "attributes": attributes(span.attributes),
                                            "events": [(e.name, attributes(e.attributes)) for e in span.events],
                                        }
                                    )
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(receiver.status if self.path == "/v1/traces" else 404)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)
