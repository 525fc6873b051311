"""JSON responses that keep every recorded value as it is (``-Infinity`` included) and the receipt header."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from .json_codec import dumps

RECORD_HEADER = "X-LLM-Audit-Record-Id"


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None, *, strict: bool = False
) -> Response:
    """``strict``: ``body`` holds no non-finite float (:func:`.json_codec.dumps`)."""
    return Response(dumps(body, strict), status_code=status, media_type="application/json", headers=headers)
