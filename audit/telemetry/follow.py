"""``serve``/``proxy --otlp-endpoint``: export each record stored after the server started, from a thread.

The thread reads new records from the database (through the store, like every reader) once a second
and sends them in batches; the request path never waits for it, and an endpoint that is slow or down
only delays this thread. Spans the endpoint did not take are counted in ``/metrics``
(``llm_audit_otel_spans_dropped_total``; sent ones in ``llm_audit_otel_spans_sent_total``) and not
retried: the records themselves are in the log, and ``llm-audit otel-export --since`` sends them again.
"""

from __future__ import annotations

import threading
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter

from ..store import AuditStore
from .sender import Sender
from .spans import record_span

BATCH = 256


class Follower:
    def __init__(
        self,
        db_path: Path,
        endpoint: str,
        registry: CollectorRegistry,
        *,
        content: bool = False,
        interval: float = 1.0,
        timeout: float = 10.0,
        exporter: object | None = None,
    ) -> None:
        self.db_path = Path(db_path)
        self.content = content
        self.interval = interval
        self.sender = Sender(endpoint, timeout, exporter)
        self.sent = Counter("llm_audit_otel_spans_sent", "Spans the OTLP endpoint accepted", registry=registry)
        self.dropped = Counter(
            "llm_audit_otel_spans_dropped", "Spans the OTLP endpoint did not take (not retried)", registry=registry
        )
        self.seen = 0
        self.reachable = True  # the last batch was taken: only then does stop() send what came in since
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="llm-audit-otlp", daemon=True)

    def start(self) -> None:
        if self.db_path.exists():
            with AuditStore.open(self.db_path) as store:
                self.seen = store.monitoring.last_seq()
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self.thread.is_alive():
            self.thread.join(30)
        if self.reachable:
            self.poll()  # what was stored just before the stop (not against a collector that is down)
        self.sender.close()

    def poll(self) -> int:
        """Send the records stored since the last poll; how many spans were built."""
        if not self.db_path.exists():
            return 0
        built = 0
        with AuditStore.open(self.db_path) as store:
            while records := store.records.after(self.seen, BATCH):
                specs = []
                for record in records:
                    logged = store.events.logged("generation", record.id)
                    replay = store.replays.latest(record.id)
                    specs.append(record_span(record, logged.seq if logged else None, replay, self.content))
                    self.seen = record.seq or self.seen
                outcome = self.sender.send(specs)
                self.reachable = not outcome.dropped
                self.sent.inc(outcome.sent)
                self.dropped.inc(outcome.dropped)
                built += len(specs)
        return built

    def _run(self) -> None:
        while not self.stopping.wait(self.interval):
            try:
                self.poll()
            except Exception:  # noqa: BLE001 - a failed poll (a locked database, a bad batch) waits for the next one
                continue
