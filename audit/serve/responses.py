"""JSON responses that keep every recorded value as it is (``-Infinity`` included) and the receipt header."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

RECORD_HEADER = "X-LLM-Audit-Record-Id"


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    text = json.dumps(body, ensure_ascii=False, allow_nan=True, separators=(",", ":"))
    return Response(text, status_code=status, media_type="application/json", headers=headers)
