"""The FastAPI application: pages (HTML forms, no script) and the JSON API, over one :class:`Reviews`.

Each handler authenticates (a session cookie, or a personal API token as ``Authorization: Bearer``),
checks the CSRF token of a state-changing request made with a session, calls one method of the
review API in a worker thread, and renders or serialises the answer. The review API decides
everything else (roles, four eyes, validation), and a refusal it raises becomes the status it
names: 401 (pages redirect to the login form), 403, 404, 409, 429 or 400, with nothing stored.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any
from urllib.parse import parse_qs, urlencode

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from ..errors import UserError
from ..report.colors import diverging_buckets, sequential_buckets
from ..report.render import environment
from ..review.accounts import LoginThrottle
from ..review.errors import BadRequest, Locked, Unauthenticated, status_of
from ..review.roles import MANAGE_USERS, ROLES, Principal, permissions, require
from ..review.rules import RULES
from ..review.service import AREAS, REVIEW_STATES, SEVERITIES, Reviews
from ..review.trends import trends_page
from .metrics import metrics_router
from .security import (
    CSRF_FIELD,
    CSRF_HEADER,
    HEADERS,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    Session,
    Sessions,
    check_csrf,
    local_path,
)

DONE = {
    "signed-off": "Your sign-off is recorded in the audit log (section 9).",
    "finding": "Your finding is recorded in the audit log.",
    "resolved": "The resolution is recorded in the audit log.",
    "job": "The job is queued: this page refreshes until it is done.",
    "user": "The user change is recorded in the audit log.",
}
MAX_BODY = 64 * 1024


class Actor:
    """The authenticated user of one request, and their session when they came with a cookie."""

    def __init__(self, principal: Principal, session: Session | None) -> None:
        self.principal = principal
        self.session = session

    @property
    def csrf(self) -> str:
        return self.session.csrf if self.session else ""


def _trend_filters(q: dict[str, str]) -> dict[str, str]:
    """The trends page's query (use_case, window, since, until, segment), nothing else."""
    return {k: q[k][:100] for k in ("use_case", "window", "since", "until", "segment") if k in q}


def create_app(reviews: Reviews, *, sessions: Sessions | None = None, throttle: LoginThrottle | None = None) -> FastAPI:
    """The workspace over ``reviews``; ``sessions``/``throttle`` are given by tests to control time."""
    app = FastAPI(title="llm-audit review workspace", docs_url=None, redoc_url=None, openapi_url=None)
    sessions = sessions or Sessions()
    throttle = throttle or LoginThrottle()
    app.state.reviews, app.state.sessions, app.state.throttle = reviews, sessions, throttle
    app.include_router(metrics_router(reviews.db_path))  # decision counters for Prometheus (open, no record)
    env = environment()
    buckets = {"diverging": diverging_buckets(), "sequential": sequential_buckets()}
    css = {
        "report.css": env.get_template("styles.css.j2").render(**buckets),
        "ui.css": env.get_template("ui/ui.css.j2").render(),
    }

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if not request.url.path.startswith("/static/"):
            response.headers["Cache-Control"] = "no-store"
        return response

    # -- helpers ---------------------------------------------------------------------------------
    def client(request: Request) -> str:
        return request.client.host if request.client else ""

    async def actor(request: Request) -> Actor:
        """Who is asking: a bearer token, else the session cookie; 401 otherwise."""
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            return Actor(await run_in_threadpool(reviews.token_user, header[7:].strip()), None)
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            raise Unauthenticated("log in first (or send a personal API token as Authorization: Bearer)")
        session = sessions.read(cookie)
        return Actor(await run_in_threadpool(reviews.session_user, session.name), session)

    async def form(request: Request) -> dict[str, str]:
        body = await request.body()
        if len(body) > MAX_BODY:
            raise BadRequest("the form is too large")
        kind = request.headers.get("content-type", "").split(";")[0].strip()
        if body and kind != "application/x-www-form-urlencoded":
            raise BadRequest("send the form as application/x-www-form-urlencoded")
        return {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}

    async def json_body(request: Request) -> dict[str, Any]:
        body = await request.body()
        if len(body) > MAX_BODY:
            raise BadRequest("the request body is too large")
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            raise BadRequest("the request body is not JSON") from None
        if not isinstance(data, dict):
            raise BadRequest("the request body must be a JSON object")
        return data

    async def acting(request: Request, fields: dict[str, str] | None = None) -> Actor:
        """The actor of a state-changing request; with a session, its CSRF token must come along."""
        who = await actor(request)
        if who.session is not None:
            token = request.headers.get(CSRF_HEADER) or (fields or {}).get(CSRF_FIELD)
            check_csrf(who.session, token)
        return who

    def page(request: Request, template: str, who: Actor | None, status: int = 200, **context: Any) -> HTMLResponse:
        principal = who.principal if who else None
        html = env.get_template(f"ui/{template}").render(
            user=principal,
            csrf=who.csrf if who else "",
            can=permissions(principal.role) if principal else {},
            path=request.url.path,
            done=DONE.get(request.query_params.get("done", "")),
            refresh=context.pop("refresh", False),
            **buckets,
            **context,
        )
        return HTMLResponse(html, status_code=status)

    def api_error(exc: UserError) -> JSONResponse:
        response = JSONResponse({"error": str(exc)}, status_code=status_of(exc))
        if isinstance(exc, Locked):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    def page_error(request: Request, exc: UserError, who: Actor | None = None) -> Response:
        if isinstance(exc, Unauthenticated):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            response = RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)
            response.delete_cookie(SESSION_COOKIE, path="/")
            return response
        return page(request, "error.html.j2", who, status_of(exc), message=str(exc), code=status_of(exc))

    async def show(request: Request, render) -> Response:
        """A page: authenticate, then ``render(actor)``; refusals become the error page or the login redirect."""
        who = None
        try:
            who = await actor(request)
            return await render(who)
        except UserError as exc:
            return page_error(request, exc, who)

    async def api(request: Request, handler, *, write: bool = False) -> Response:
        try:
            who = await (acting(request) if write else actor(request))
            return await handler(who)
        except UserError as exc:
            return api_error(exc)

    def back(path: str, done: str) -> RedirectResponse:
        return RedirectResponse(f"{path}?done={done}", status_code=303)

    # -- static and login --------------------------------------------------------------------------
    @app.get("/static/{name}")
    async def static(name: str) -> Response:
        if name not in css:
            return Response("not found", status_code=404, media_type="text/plain")
        return Response(css[name], media_type="text/css", headers={"Cache-Control": "max-age=3600"})

    @app.get("/")
    async def home() -> Response:
        return RedirectResponse("/queue", status_code=303)

    def login_page(request: Request, status: int = 200, message: str | None = None, headers=None) -> Response:
        token, cookie = sessions.login_token()
        response = page(
            request,
            "login.html.j2",
            None,
            status,
            login_csrf=token,
            message=message,
            next=local_path(request.query_params.get("next")),
        )
        response.set_cookie(
            LOGIN_COOKIE, cookie, httponly=True, samesite="strict", path="/login", secure=request.url.scheme == "https"
        )
        for name, value in (headers or {}).items():
            response.headers[name] = value
        return response

    @app.get("/login")
    async def login_form(request: Request) -> Response:
        return login_page(request)

    @app.post("/login")
    async def login(request: Request) -> Response:
        address = client(request)
        try:
            fields = await form(request)
            sessions.check_login_token(request.cookies.get(LOGIN_COOKIE), fields.get(CSRF_FIELD))
            throttle.check(address)
            try:
                principal = await run_in_threadpool(
                    reviews.accounts.login, fields.get("name", ""), fields.get("password", ""), client=address
                )
            except (Unauthenticated, Locked):
                throttle.failed(address)
                raise
        except UserError as exc:
            headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, Locked) else None
            return login_page(request, status_of(exc), str(exc), headers)
        cookie, _ = sessions.issue(principal.name)
        response = RedirectResponse(local_path(fields.get("next")), status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            cookie,
            max_age=sessions.lifetime,
            httponly=True,
            samesite="strict",
            path="/",
            secure=request.url.scheme == "https",
        )
        response.delete_cookie(LOGIN_COOKIE, path="/login")
        return response

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        try:
            who = await acting(request, await form(request))
        except UserError as exc:
            return page_error(request, exc)
        if who.session is not None:
            sessions.revoke(who.session)
            await run_in_threadpool(reviews.accounts.logout, who.principal, client=client(request))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    # -- pages -------------------------------------------------------------------------------------
    def page_number(request: Request) -> int:
        value = request.query_params.get("page", "1")
        if not value.isdigit():
            raise BadRequest("page must be a positive number")
        return int(value)

    @app.get("/queue")
    async def queue(request: Request) -> Response:
        async def render(who: Actor) -> Response:
            reason = request.query_params.get("reason") or None
            result = await run_in_threadpool(reviews.queue, who.principal, reason, page_number(request))
            return page(request, "queue.html.j2", who, q=result, rules=RULES, query=_query(request))

        return await show(request, render)

    @app.get("/records")
    async def records(request: Request) -> Response:
        async def render(who: Actor) -> Response:
            filters = reviews.record_filter(dict(request.query_params))
            result, choices = await run_in_threadpool(reviews.records, who.principal, filters, page_number(request))
            return page(
                request,
                "records.html.j2",
                who,
                r=result,
                choices=choices,
                f=dict(request.query_params),
                review_states=REVIEW_STATES,
                query=_query(request),
            )

        return await show(request, render)

    def record_page(request: Request, who: Actor, view, status: int = 200, error: str | None = None) -> Response:
        return page(
            request,
            "record.html.j2",
            who,
            status,
            v=view,
            d=view.dossier,
            error=error,
            severities=SEVERITIES,
            areas=AREAS,
            refresh=any(j.pending for j in view.jobs),
        )

    @app.get("/records/{record_id}")
    async def record(request: Request, record_id: str) -> Response:
        async def render(who: Actor) -> Response:
            view = await run_in_threadpool(reviews.record, who.principal, record_id)
            return record_page(request, who, view)

        return await show(request, render)

    @app.post("/records/{record_id}/clear")
    async def record_clear(request: Request, record_id: str) -> Response:
        async def render(who: Actor) -> Response:
            who = await acting(request, await form(request))
            view = await run_in_threadpool(reviews.record, who.principal, record_id, clear=True)
            return record_page(request, who, view)

        return await show(request, render)

    async def record_action(request: Request, record_id: str, act, done: str) -> Response:
        """A form on the record page: act, then back to the page; a refusal re-renders it with the message."""
        who = None
        try:
            fields = await form(request)
            who = await acting(request, fields)
            await run_in_threadpool(act, who.principal, fields)
            return back(f"/records/{record_id}", done)
        except UserError as exc:
            if isinstance(exc, Unauthenticated) or who is None:
                return page_error(request, exc, who)
            try:
                view = await run_in_threadpool(reviews.record, who.principal, record_id)
            except UserError:
                return page_error(request, exc, who)
            return record_page(request, who, view, status_of(exc), str(exc))

    @app.post("/records/{record_id}/reviews")
    async def record_review(request: Request, record_id: str) -> Response:
        def act(principal: Principal, f: dict[str, str]) -> None:
            reviews.sign_off(
                principal, record_id, f.get("action", ""), f.get("decision") or None, f.get("rationale", "")
            )

        return await record_action(request, record_id, act, "signed-off")

    @app.post("/records/{record_id}/findings")
    async def record_finding(request: Request, record_id: str) -> Response:
        def act(principal: Principal, f: dict[str, str]) -> None:
            reviews.add_finding(principal, record_id, f.get("severity", ""), f.get("area", ""), f.get("text", ""))

        return await record_action(request, record_id, act, "finding")

    @app.post("/records/{record_id}/findings/{finding_id}/resolve")
    async def record_resolve(request: Request, record_id: str, finding_id: str) -> Response:
        def act(principal: Principal, f: dict[str, str]) -> None:
            reviews.resolve_finding(principal, finding_id, f.get("text", ""))

        return await record_action(request, record_id, act, "resolved")

    @app.post("/records/{record_id}/jobs")
    async def record_job(request: Request, record_id: str) -> Response:
        def act(principal: Principal, f: dict[str, str]) -> None:
            params = {k: v for k, v in f.items() if k in ("method", "granularity") and v}
            if f.get("kind") == "attention" and f.get("heads"):
                params = {"heads": True}
            reviews.request_job(principal, record_id, f.get("kind", ""), params)

        return await record_action(request, record_id, act, "job")

    @app.get("/summary")
    async def summary(request: Request) -> Response:
        async def render(who: Actor) -> Response:
            q = request.query_params
            s = await run_in_threadpool(
                lambda: reviews.summary(
                    who.principal,
                    use_case=q.get("use_case") or None,
                    since=q.get("since"),
                    until=q.get("until") or None,
                )
            )
            return page(request, "summary.html.j2", who, s=s, f=dict(q))

        return await show(request, render)

    @app.get("/trends")
    async def trends(request: Request) -> Response:
        async def render(who: Actor) -> Response:
            q = {k: v for k, v in request.query_params.items() if v}
            t = await run_in_threadpool(lambda: trends_page(reviews.db_path, **_trend_filters(q)))
            return page(request, "trends.html.j2", who, t=t, f=q)

        return await show(request, render)

    @app.get("/users")
    async def users(request: Request) -> Response:
        async def render(who: Actor) -> Response:
            require(who.principal, MANAGE_USERS)
            accounts = await run_in_threadpool(reviews.accounts.list)
            return page(request, "users.html.j2", who, accounts=accounts, roles=ROLES, error=None)

        return await show(request, render)

    @app.post("/users")
    async def users_change(request: Request) -> Response:
        who = None
        try:
            fields = await form(request)
            who = await acting(request, fields)
            require(who.principal, MANAGE_USERS)
            await run_in_threadpool(_user_change, reviews, who.principal, fields)
            return back("/users", "user")
        except UserError as exc:
            if who is None or isinstance(exc, Unauthenticated):
                return page_error(request, exc, who)
            try:
                require(who.principal, MANAGE_USERS)
            except UserError:
                return page_error(request, exc, who)
            accounts = await run_in_threadpool(reviews.accounts.list)
            return page(request, "users.html.j2", who, status_of(exc), accounts=accounts, roles=ROLES, error=str(exc))

    # -- the JSON API ------------------------------------------------------------------------------
    @app.get("/api/me")
    async def api_me(request: Request) -> Response:
        async def handle(who: Actor) -> Response:
            p = who.principal
            me = {"name": p.name, "role": p.role, "via": p.via, "permissions": permissions(p.role)}
            if who.session is not None:  # same-origin only (no CORS): what a session's script sends as X-CSRF-Token
                me["csrf"] = who.session.csrf
            return JSONResponse(me)

        return await api(request, handle)

    @app.get("/api/queue")
    async def api_queue(request: Request) -> Response:
        async def handle(who: Actor) -> Response:
            reason = request.query_params.get("reason") or None
            q = await run_in_threadpool(reviews.queue, who.principal, reason, page_number(request))
            counts = [{"reason": r, "title": t, "records": n} for r, t, n in q.counts]
            return JSONResponse(
                {
                    "total": q.total,
                    "page": q.page,
                    "pages": q.pages,
                    "counts": counts,
                    "records": [_row(r) for r in q.rows],
                }
            )

        return await api(request, handle)

    @app.get("/api/records")
    async def api_records(request: Request) -> Response:
        async def handle(who: Actor) -> Response:
            filters = reviews.record_filter(dict(request.query_params))
            result, _ = await run_in_threadpool(reviews.records, who.principal, filters, page_number(request))
            return JSONResponse(
                {
                    "total": result.total,
                    "page": result.page,
                    "pages": result.pages,
                    "records": [_row(r) for r in result.rows],
                }
            )

        return await api(request, handle)

    @app.get("/api/records/{record_id}")
    async def api_record(request: Request, record_id: str) -> Response:
        async def handle(who: Actor) -> Response:
            clear = request.query_params.get("clear") in ("1", "true")
            view = await run_in_threadpool(lambda: reviews.record(who.principal, record_id, clear=clear))
            return JSONResponse(_record_json(view))

        return await api(request, handle)

    @app.post("/api/records/{record_id}/reviews")
    async def api_review(request: Request, record_id: str) -> Response:
        async def handle(who: Actor) -> Response:
            body = await json_body(request)
            signed = await run_in_threadpool(
                reviews.sign_off,
                who.principal,
                record_id,
                body.get("action"),
                body.get("decision"),
                body.get("rationale", ""),
            )
            return JSONResponse(signed.payload(), status_code=201)

        return await api(request, handle, write=True)

    @app.post("/api/records/{record_id}/findings")
    async def api_finding(request: Request, record_id: str) -> Response:
        async def handle(who: Actor) -> Response:
            body = await json_body(request)
            found = await run_in_threadpool(
                reviews.add_finding, who.principal, record_id, body.get("severity"), body.get("area"), body.get("text")
            )
            return JSONResponse(found.payload(), status_code=201)

        return await api(request, handle, write=True)

    @app.post("/api/findings/{finding_id}/resolve")
    async def api_resolve(request: Request, finding_id: str) -> Response:
        async def handle(who: Actor) -> Response:
            body = await json_body(request)
            done = await run_in_threadpool(reviews.resolve_finding, who.principal, finding_id, body.get("text"))
            return JSONResponse(done.payload(), status_code=201)

        return await api(request, handle, write=True)

    @app.post("/api/records/{record_id}/jobs")
    async def api_job(request: Request, record_id: str) -> Response:
        async def handle(who: Actor) -> Response:
            body = await json_body(request)
            kind = body.pop("kind", None)
            job = await run_in_threadpool(reviews.request_job, who.principal, record_id, kind, body)
            return JSONResponse(job.to_dict(), status_code=202)

        return await api(request, handle, write=True)

    @app.get("/api/jobs/{job_id}")
    async def api_job_state(request: Request, job_id: str) -> Response:
        async def handle(who: Actor) -> Response:
            return JSONResponse((await run_in_threadpool(reviews.job, who.principal, job_id)).to_dict())

        return await api(request, handle)

    return app


def _query(request: Request) -> str:
    """The request's query without ``page``, for pagination links."""
    return urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "page"])


def _user_change(reviews: Reviews, actor: Principal, fields: dict[str, str]) -> None:
    accounts, op, name = reviews.accounts, fields.get("op", ""), fields.get("name", "")
    if op == "add":
        accounts.add(actor, name, fields.get("role", ""), fields.get("password", ""))
    elif op == "set-role":
        accounts.set_role(actor, name, fields.get("role", ""))
    elif op == "disable":
        accounts.disable(actor, name)
    elif op == "enable":
        accounts.enable(actor, name)
    else:
        raise BadRequest(f"unknown user change {op[:20]!r}: use add, set-role, disable or enable")


def _row(row) -> dict[str, Any]:
    data = asdict(row)
    data["reasons"] = [{"reason": r, "detail": d} for r, d in row.reasons]
    data.pop("rank")
    data["in_queue"] = row.rank is not None
    return data


def _record_json(view) -> dict[str, Any]:
    d = view.dossier
    return {
        "record": {
            "id": view.record_id,
            "use_case": d.cover.use_case,
            "operator": d.cover.operator,
            "started_at": d.cover.started_at,
            "record_hash": d.cover.record_hash,
            "prompt": "".join(s.text for s in d.decision.segments),
            "output_text": d.decision.output_text,
            "sealed": view.sealed,
            "clear_shown": view.clear_shown,
        },
        "review_state": view.row.review_state if view.row else "unreviewed",
        "reasons": [{"reason": r, "detail": t} for r, t in (view.row.reasons if view.row else [])],
        "reviews": [r.payload() for r in view.reviews],
        "findings": [
            {**f.finding.payload(), "open": f.open, "resolution": f.resolution.payload() if f.resolution else None}
            for f in view.findings
        ],
        "integrity": {"state": view.integrity.state, "message": view.integrity.message},
        "jobs": [j.to_dict() for j in view.jobs],
    }
