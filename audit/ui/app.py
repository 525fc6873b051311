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

from ..monitor.prometheus import DecisionMetrics
from ..review.service import Reviews
from . import refusals
from .deps import MAX_BODY
from .limits import BodyLimit
from .routers import api, exports, monitoring, pages, session, users
from .security import HEADERS, HSTS, Sessions, is_https
from .views import Views


def create_app(reviews: Reviews, *, sessions: Sessions | None = None) -> FastAPI:
    """The workspace over ``reviews``; ``sessions`` is given by tests to control time (logins are throttled
    by ``reviews.accounts``, whose policy holds the clock)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        reviews.close()  # the job worker: a job running now is finished first

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
    for router in (session.router, pages.router, users.router, api.router, monitoring.router, exports.router):
        app.include_router(router)
    return app
