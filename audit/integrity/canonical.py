"""RFC 8785 (JSON Canonicalization Scheme) bytes for hashing payloads.

JCS gives one byte string per JSON value, so a payload rebuilt from the tables hashes
the same as the one logged. JCS only admits I-JSON numbers; the two values our records
can hold outside it (non-finite floats, integers beyond 2**53) are first written as
tagged strings, ``{"$float": "nan"}`` / ``{"$int": "..."}``, so they hash instead of
failing the append. The price is that such a tag and a payload containing that exact
object hash alike, which no component writes.
"""
from __future__ import annotations

import json
import math
from typing import Any

import rfc8785

_MAX_SAFE_INT = 2**53 - 1


def jcs_safe(value: Any) -> Any:
    """``value`` with non-I-JSON numbers replaced by their tagged form (see module doc)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$float": repr(value)}
    if isinstance(value, int):
        return value if abs(value) <= _MAX_SAFE_INT else {"$int": str(value)}
    if isinstance(value, dict):
        return {str(k): jcs_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jcs_safe(v) for v in value]
    return value


def canonical_bytes(value: Any) -> bytes:
    """The JCS encoding of ``value`` (the common all-finite case skips the rewrite)."""
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError:
        return rfc8785.dumps(jcs_safe(value))


def same_content(canonical_text: str, value: Any) -> bool:
    """Whether ``value`` is the content logged as ``canonical_text``.

    Compares parsed values instead of re-canonicalising: the pure-Python JCS encoder
    costs milliseconds per record, parsing and ``==`` run in C. JCS numbers parse back to
    the identical double, so the comparison is exact.
    """
    logged = json.loads(canonical_text)
    return logged == value or logged == jcs_safe(value)
