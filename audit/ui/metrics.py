"""``GET /metrics`` of the workspace: the decision counters and histograms (:mod:`audit.monitor.prometheus`).

Open, like the recording server's, for a Prometheus scraper: it states counts per use case and label,
never a record. The counters start at zero when the workspace starts and count every decision
stored since, by whichever process.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from ..monitor.prometheus import DecisionMetrics


def metrics_router(db_path: Path) -> APIRouter:
    registry = CollectorRegistry()
    decisions = DecisionMetrics(db_path, registry)
    router = APIRouter()

    @router.get("/metrics")
    async def metrics() -> Response:
        await asyncio.to_thread(decisions.update)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router
