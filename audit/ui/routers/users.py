"""The users page (admins only): the accounts, and the form that adds a user or changes one."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from ...errors import UserError
from ...review.errors import Unauthenticated, status_of
from ...review.roles import MANAGE_USERS, ROLES, require
from ..deps import Actor, Form, FormWho, ReviewsDep, ViewsDep, Who
from ..forms import UserChangeForm
from ..views import Views

router = APIRouter()


def _users_page(request: Request, who: Actor, reviews, views: Views, status: int = 200, error: str | None = None):
    accounts = reviews.accounts.list()
    return views.page(request, "users.html.j2", who, status, accounts=accounts, roles=ROLES, error=error)


@router.get("/users")
def users(request: Request, who: Who, reviews: ReviewsDep, views: ViewsDep) -> Response:
    require(who.principal, MANAGE_USERS)
    return _users_page(request, who, reviews, views)


@router.post("/users")
def users_change(request: Request, fields: Form, who: FormWho, reviews: ReviewsDep, views: ViewsDep) -> Response:
    """A refused change shows the users page again with the message; a non-admin gets the error page."""
    try:
        require(who.principal, MANAGE_USERS)
        UserChangeForm.read(fields).submit(reviews, who.principal)
    except UserError as exc:
        if isinstance(exc, Unauthenticated):
            raise
        try:
            require(who.principal, MANAGE_USERS)
        except UserError:
            raise exc from None
        return _users_page(request, who, reviews, views, status_of(exc), str(exc))
    return RedirectResponse("/users?done=user", status_code=303)
