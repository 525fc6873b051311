"""How a refusal is answered, in one place: every :class:`~audit.errors.UserError` a route, a dependency
or the review API raises becomes the status it names (``status_of``), with nothing stored.

The API answers JSON (``{"error": ...}``, with ``Retry-After`` when locked); a page answers a
redirect to the login form for 401, else the error page. Forms that show their refusal next to
the form (login, a record's actions, users) render it themselves and fall back on these.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from ..errors import UserError
from ..review.errors import Locked, Unauthenticated, status_of


def api_error(exc: UserError) -> JSONResponse:
    response = JSONResponse({"error": str(exc)}, status_code=status_of(exc))
    if isinstance(exc, Locked):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def page_error(request: Request, exc: UserError) -> Response:
    if isinstance(exc, Unauthenticated):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        # The session cookie is left alone: a cookie the browser did not send (another site's link, under
        # an older SameSite rule) must not be deleted, and one that is no longer valid harms nobody.
        return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)
    who = getattr(request.state, "actor", None)
    views = request.app.state.views
    return views.page(request, "error.html.j2", who, status_of(exc), message=str(exc), code=status_of(exc))


def refused(request: Request, exc: UserError) -> Response:
    return api_error(exc) if request.url.path.startswith("/api/") else page_error(request, exc)


def install(app: FastAPI) -> None:
    app.add_exception_handler(UserError, refused)
