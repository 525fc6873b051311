"""Logging in and out, and the two style sheets (the only routes that need no user)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from ...errors import UserError
from ...review.errors import Locked, status_of
from ..deps import FormWho, ReviewsDep, ViewsDep, client_address, form_body, get_sessions
from ..security import CSRF_FIELD, LOGIN_COOKIE, SESSION_COOKIE, Sessions, cookie_options, local_path
from ..views import Views

router = APIRouter()
SessionsDep = Annotated[Sessions, Depends(get_sessions)]


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
    response.set_cookie(LOGIN_COOKIE, cookie, **{**cookie_options(request, path="/login"), "samesite": "strict"})
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


@router.get("/login")
def login_form(request: Request, views: ViewsDep, sessions: SessionsDep) -> Response:
    return login_page(request, views, sessions)


@router.post("/login")
async def login(request: Request, views: ViewsDep, sessions: SessionsDep, reviews: ReviewsDep) -> Response:
    """A refused login shows the login form again, with the reason (and Retry-After while the name is held
    back); the form's token is spent either way. A login ends the session this browser had (one per login)."""
    address = client_address(request)
    try:
        fields = await form_body(request)
        sessions.check_login_token(request.cookies.get(LOGIN_COOKIE), fields.get(CSRF_FIELD))
        principal = await run_in_threadpool(
            reviews.accounts.login, fields.get("name", ""), fields.get("password", ""), client=address
        )
    except UserError as exc:
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, Locked) else None
        return login_page(request, views, sessions, status_of(exc), str(exc), headers)
    earlier = request.cookies.get(SESSION_COOKIE)
    if earlier:
        try:
            sessions.revoke(sessions.read(earlier))
        except UserError:
            pass  # already over
    cookie, _ = sessions.issue(principal.name, principal.generation)
    response = RedirectResponse(local_path(fields.get("next")), status_code=303)
    response.set_cookie(SESSION_COOKIE, cookie, max_age=sessions.lifetime, **cookie_options(request))
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
