"""Errors in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}`` with the right status.

Every refusal of the server and the proxy goes through :class:`ApiError`, so a client written
for OpenAI (which raises ``openai.BadRequestError``, ``AuthenticationError``,
``RateLimitError``...) reads ours the same way, and the message names the problem and the fix.
"""

from __future__ import annotations

from typing import Any

TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    502: "upstream_error",
    503: "server_error",
    504: "upstream_error",
}


class ApiError(Exception):
    """A refusal: HTTP ``status`` and the OpenAI error body; ``headers`` (e.g. ``Retry-After``) go with it."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        kind = TYPES.get(self.status, "server_error" if self.status >= 500 else "invalid_request_error")
        return {"error": {"message": self.message, "type": kind, "param": self.param, "code": self.code}}


def bad_request(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(400, message, param=param, code=code)


def not_stored(reason: str) -> ApiError:
    """The record could not be committed: no completion is given without one."""
    return ApiError(
        503,
        f"the audit record could not be stored ({reason}), so no completion is returned: "
        "check the server's database (writable, disk space) and retry",
        code="record_not_stored",
    )
