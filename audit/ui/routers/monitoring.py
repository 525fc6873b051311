"""Monitoring in the workspace: the trends page (charts of decisions over time) and ``GET /metrics``.

``/trends`` is a page for every role (:mod:`audit.review.trends` builds its view model); a bad choice
(an unknown window, a field no record has, an empty period) is the monitor's refusal on the error
page. ``/metrics`` is open, like the recording server's, for a Prometheus scraper: it states decision
counts per use case and label (:mod:`audit.monitor.prometheus`), never a record; its counters start
when the workspace starts and count every decision stored since, by whichever process.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ...review.trends import trends_page
from ..deps import ReviewsDep, ViewsDep, Who

router = APIRouter()
FILTERS = ("use_case", "window", "since", "until", "segment")


@router.get("/trends")
def trends(request: Request, who: Who, reviews: ReviewsDep, views: ViewsDep) -> Response:
    chosen = {k: v[:100] for k, v in request.query_params.items() if k in FILTERS and v}
    t = trends_page(reviews.db_path, **chosen)
    return views.page(request, "trends.html.j2", who, t=t, f=chosen)


@router.get("/metrics")
def metrics(request: Request) -> Response:
    state = request.app.state  # the counters were made with the app (create_app), kept for the process
    state.decision_metrics.update()
    return Response(generate_latest(state.metrics_registry), media_type=CONTENT_TYPE_LATEST)
