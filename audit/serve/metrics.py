"""Prometheus metrics of one server or proxy, in a registry of its own (no process-wide state).

``llm_audit_requests_total{endpoint,status}``, ``llm_audit_request_seconds{endpoint}`` (until the
last byte, streams included), ``llm_audit_queue_depth``, ``llm_audit_records_written_total``,
``llm_audit_records_failed_total``, ``llm_audit_record_batches_total`` (transactions that stored
records: records written over batches is the mean batch), ``llm_audit_database_writable`` (1, or 0 when the next record
would be refused: full disk, read-only, a write lock held past the timeout) and
``llm_audit_checkpoint_lag_events`` (events not yet covered by a signed checkpoint, read from the
database at scrape time; NaN when the database cannot be read); and the decision counters and
histograms of :mod:`audit.monitor.prometheus`.

A scrape while the database cannot take records is answered 503 *with* the whole text, each problem
in a comment line first: the scrape fails (an alert fires) and a person with curl still reads the
figures.
"""

from __future__ import annotations

import math
import sqlite3
import time
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from ..errors import UserError
from ..monitor.prometheus import DecisionMetrics
from ..store import AuditStore
from ..store.database import describe_write_error
from .writable import public_reason

ENDPOINTS = ("/v1/chat/completions", "/v1/completions", "/v1/models", "/healthz", "/metrics")
BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class Metrics:
    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "llm_audit_requests", "HTTP requests by endpoint and status", ["endpoint", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "llm_audit_request_seconds",
            "Time from request to last response byte",
            ["endpoint"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "llm_audit_queue_depth", "Requests waiting for or using the model", registry=self.registry
        )
        self.records_written = Counter("llm_audit_records_written", "Records committed", registry=self.registry)
        self.batches = Counter(
            "llm_audit_record_batches",
            "Transactions that stored records (one fsync and checkpoint each)",
            registry=self.registry,
        )
        self.records_failed = Counter(
            "llm_audit_records_failed",
            "Completions refused because their record could not be stored",
            registry=self.registry,
        )
        self.database_writable = Gauge(
            "llm_audit_database_writable",
            "1 when the next record would be stored, 0 when it would be refused (full disk, read-only, lock held)",
            registry=self.registry,
        )
        self.checkpoint_lag = Gauge(
            "llm_audit_checkpoint_lag_events", "Events not yet covered by a signed checkpoint", registry=self.registry
        )
        self.decisions = DecisionMetrics(db_path, self.registry)

    def observe(self, path: str, status: int, started: float) -> None:
        endpoint = path if path in ENDPOINTS else "other"
        self.requests.labels(endpoint, str(status)).inc()
        self.latency.labels(endpoint).observe(time.perf_counter() - started)

    def render(self, refusal: str | None = None) -> tuple[bytes, list[str]]:
        """The exposition text and the problems it reports (empty: healthy). ``refusal``: why the next record would
        be refused (:func:`.writable.next_write_fails`), or None."""
        problems = [f"the next record would be refused: {refusal}"] if refusal is not None else []
        self.database_writable.set(0 if refusal is not None else 1)
        try:
            self.checkpoint_lag.set(checkpoint_lag(self.db_path))
            self.decisions.update()
        except (sqlite3.Error, OSError, UserError) as exc:
            self.checkpoint_lag.set(math.nan)
            text = str(exc) if isinstance(exc, UserError) else describe_write_error(exc, self.db_path)
            problems.append(f"the database cannot be read: {public_reason(text, self.db_path)}")
        notes = "".join(f"# llm-audit: {' '.join(p.split())}\n" for p in problems).encode()
        return notes + generate_latest(self.registry), problems


def checkpoint_lag(db_path: Path) -> int:
    if not db_path.exists():
        return 0
    with AuditStore.open(db_path) as store:
        events = store.events.count()
        latest = store.checkpoints.latest() if store.checkpoints.exists() else None
    return events - (latest.tree_size if latest is not None else 0)


class MetricsMiddleware:
    """ASGI middleware: counts every HTTP request by endpoint and final status, timed to its last byte."""

    def __init__(self, app, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}
        done = {"observed": False}

        async def tracking_send(message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body") and not done["observed"]:
                done["observed"] = True
                self.metrics.observe(scope["path"], status["code"], started)

        try:
            await self.app(scope, receive, send=tracking_send)
        finally:
            if not done["observed"]:
                self.metrics.observe(scope["path"], status["code"], started)
