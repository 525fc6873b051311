"""Logging in and out, and the two style sheets (the only routes that need no user)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from ...errors import UserError
from ...review.accounts import LoginThrottle
from ...review.errors import Locked, Unauthenticated, status_of
from ..deps import FormWho, ReviewsDep, ViewsDep, client_address, form_body, get_sessions
from ..security import CSRF_FIELD, LOGIN_COOKIE, SESSION_COOKIE, Sessions, local_path
from ..views import Views

router = APIRouter()
SessionsDep = Annotated[Sessions, Depends(get_sessions)]


def get_throttle(request: Request) -> LoginThrottle:
    return request.app.state.throttle


@router.get("/static/{name}")
def static(name: str, views: ViewsDep) -> Response:
    if name not in views.css:
        return Response("not found", status_code=404, media_type="text/plain")
    return Response(views.css[name], media_type="text/css", headers={"Cache-Control": "max-age=3600"})


@router.get("/")
def home() -> Response:
    return RedirectResponse("/queue", status_code=303)


def login_page(
    request: Request, views: Views, sessions: Sessions, status: int = 200, message: str | None = None, headers=None
) -> Response:
    token, cookie = sessions.login_token()
    response = views.page(
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


@router.get("/login")
def login_form(request: Request, views: ViewsDep, sessions: SessionsDep) -> Response:
    return login_page(request, views, sessions)


@router.post("/login")
async def login(
    request: Request,
    views: ViewsDep,
    sessions: SessionsDep,
    reviews: ReviewsDep,
    throttle: Annotated[LoginThrottle, Depends(get_throttle)],
) -> Response:
    """A refused login shows the login form again, with the reason (and Retry-After when locked)."""
    address = client_address(request)
    try:
        fields = await form_body(request)
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
        return login_page(request, views, sessions, status_of(exc), str(exc), headers)
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


@router.post("/logout")
def logout(request: Request, who: FormWho, sessions: SessionsDep, reviews: ReviewsDep) -> Response:
    if who.session is not None:
        sessions.revoke(who.session)
        reviews.accounts.logout(who.principal, client=client_address(request))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
