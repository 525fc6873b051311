"""The refusals of the review workspace, each a :class:`~audit.errors.UserError` with the HTTP status it means.

The CLI prints any of them as one line and exits 2; the web application answers with ``status``
and a JSON body (or a page) carrying the same message.
"""

from __future__ import annotations

from ..errors import UserError


class BadRequest(UserError):
    status = 400


class Unauthenticated(UserError):
    """No valid session or token, a wrong password, or a disabled account."""

    status = 401


class Forbidden(UserError):
    """The user's role may not do this, or four eyes forbid it; nothing was stored."""

    status = 403


class NotFound(UserError):
    status = 404


class Conflict(UserError):
    """The request contradicts what is stored (e.g. resolving a finding twice)."""

    status = 409


class Locked(UserError):
    """Too many failed logins: the account (or the client) must wait ``retry_after`` seconds."""

    status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def status_of(error: UserError) -> int:
    return getattr(error, "status", 400)


class Unavailable(UserError):
    """Something the environment lacks (a browser to print a PDF): 503, nothing stored."""

    status = 503
