"""The FastAPI application: pages (HTML forms, no script) and the JSON API, over one :class:`Reviews`.

Put together from one router per area (``routers/``), the dependencies every route declares
(``deps.py``: who is asking, their CSRF token, the body), the typed commands a form or a JSON
body becomes (``forms.py``) and one answer to every refusal (``refusals.py``). The review API
decides everything else (roles, four eyes, validation).
"""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from prometheus_client import CollectorRegistry

from ..errors import UserError
from ..monitor.prometheus import DecisionMetrics
from ..review.service import Reviews
from . import refusals
from .deps import MAX_BODY
from .limits import BodyLimit
from .routers import api, downloads, exports, monitoring, pages, session, users
from .security import HEADERS, HSTS, Sessions, is_https
from .views import Views


def create_app(reviews: Reviews, *, sessions: Sessions | None = None) -> FastAPI:
    """The workspace over ``reviews``; ``sessions`` is given by tests to control time (logins are throttled
    by ``reviews.accounts``, whose policy holds the clock)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        try:
            reviews.recover_jobs()  # jobs a stopped workspace left unfinished are logged as failed
        except UserError as exc:  # a read-only database: nothing to log them in; the pages still work
            print(f"llm-audit ui: unfinished jobs not logged as failed: {exc}")
        yield
        running = reviews.job_requests.started.running if reviews.job_requests.started else None
        if running is not None:
            print(f"llm-audit ui: finishing the running {running.kind} job of record {running.record_id} first")
        reviews.close()  # the job worker: queued jobs logged as failed, a running one finished first

    app = FastAPI(
        title="llm-audit review workspace", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )
    app.state.reviews = reviews
    app.state.sessions = sessions or Sessions()
    app.state.views = Views()
    app.state.metrics_registry = CollectorRegistry()  # /metrics: decisions counted from the workspace's start
    app.state.decision_metrics = DecisionMetrics(reviews.db_path, app.state.metrics_registry)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if not request.url.path.startswith("/static/"):
            response.headers["Cache-Control"] = "no-store"
        if is_https(request):
            response.headers["Strict-Transport-Security"] = HSTS
        return response

    app.add_middleware(BodyLimit, limit=MAX_BODY)  # outermost: refuses before anything reads the body
    refusals.install(app)
    routers = (session, pages, downloads, users, api, monitoring, exports)
    for router in (r.router for r in routers):
        app.include_router(router)
    return app
