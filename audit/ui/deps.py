"""What a workspace route depends on, as FastAPI dependencies: who is asking, their CSRF token, the body.

Routes declare them as parameters (``who: Who``, ``fields: Form``, ``body: Body``) and FastAPI
resolves them in that order, once per request. A refusal raised here is a
:class:`~audit.errors.UserError` that :mod:`audit.ui.refusals` answers (a login redirect, an
error page, or a JSON error) like one raised by the review API.
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import Depends, Request

from ..review.errors import BadRequest, Forbidden, Unauthenticated
from ..review.roles import Principal
from ..review.service import Reviews
from . import forms
from .security import CSRF_FIELD, CSRF_HEADER, SESSION_COOKIE, Session, Sessions, check_csrf
from .views import Views

MAX_BODY = 64 * 1024


class Actor:
    """The authenticated user of one request, and their session when they came with a cookie."""

    def __init__(self, principal: Principal, session: Session | None) -> None:
        self.principal = principal
        self.session = session

    @property
    def csrf(self) -> str:
        return self.session.csrf if self.session else ""


def get_reviews(request: Request) -> Reviews:
    return request.app.state.reviews


def get_sessions(request: Request) -> Sessions:
    return request.app.state.sessions


def get_views(request: Request) -> Views:
    return request.app.state.views


def client_address(request: Request) -> str:
    return request.client.host if request.client else ""


def actor(request: Request) -> Actor:
    """Who is asking: a bearer token, else the session cookie; 401 otherwise (a thread: it reads the store)."""
    reviews = get_reviews(request)
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        who = Actor(reviews.token_user(header[7:].strip()), None)
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            raise Unauthenticated("log in first (or send a personal API token as Authorization: Bearer)")
        session = get_sessions(request).read(cookie)
        who = Actor(reviews.session_user(session.name, generation=session.generation), session)
    request.state.actor = who  # the error page shows who is logged in
    return who


async def form_body(request: Request) -> dict[str, str]:
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


def _csrf_checked(request: Request, who: Actor, token: str | None) -> Actor:
    """A state-changing request: with a session, its CSRF token must come along (a token needs none)."""
    if who.session is not None:
        try:
            check_csrf(who.session, token)
        except Forbidden:  # the refusal page shows no user for a forged request
            request.state.actor = None
            raise
    return who


def form_actor(
    request: Request, fields: Annotated[dict[str, str], Depends(form_body)], who: Annotated[Actor, Depends(actor)]
) -> Actor:
    """The actor of a form post: the form is read first, then the user, then the CSRF field (or header)."""
    return _csrf_checked(request, who, request.headers.get(CSRF_HEADER) or fields.get(CSRF_FIELD))


def api_actor(request: Request, who: Annotated[Actor, Depends(actor)]) -> Actor:
    """The actor of an API write: a session's script sends the CSRF token as ``X-CSRF-Token``."""
    return _csrf_checked(request, who, request.headers.get(CSRF_HEADER))


def page_number(request: Request) -> int:
    return forms.page_number(request.query_params)


ReviewsDep = Annotated[Reviews, Depends(get_reviews)]
ViewsDep = Annotated[Views, Depends(get_views)]
Who = Annotated[Actor, Depends(actor)]
FormWho = Annotated[Actor, Depends(form_actor)]
ApiWho = Annotated[Actor, Depends(api_actor)]
Form = Annotated[dict[str, str], Depends(form_body)]
Body = Annotated[dict[str, Any], Depends(json_body)]
PageNo = Annotated[int, Depends(page_number)]
