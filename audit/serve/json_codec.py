"""JSON on the proxy's hot path: orjson where it gives exactly what the standard library gives, else the library.

Parsing the upstream's answer and writing the client's took about a fifth of the event loop's time per
proxied request with :mod:`json`; orjson does both in a fraction of it. It differs from :mod:`json` in
what it accepts and writes, so it is used only where the two agree: :func:`loads` falls back to
:mod:`json` for anything orjson refuses (``NaN``, ``-Infinity``, a number beyond a double, a lone
surrogate, an encoding other than UTF-8) and for any integer of 19 digits or more (orjson turns an
integer beyond 64 bits into a float, :mod:`json` keeps it exact: the run of digits not after a ``.`` or
an exponent's ``e``, found by a byte translation and one search, not a regular expression, which cost
more than :mod:`json` itself); its second value says whether orjson read it.
:func:`dumps` uses orjson only for such a value (orjson would write a non-finite float as ``null``,
and a value read strictly holds none) and the standard library for everything else.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

# Each byte as its class: a digit "d", what may precede a fraction or exponent's digits ".", anything else " ".
_CLASSES = bytes(ord("d") if b in b"0123456789" else ord(".") if b in b".eE" else ord(" ") for b in range(256))
_LONG_INTEGER = b" " + b"d" * 19  # a run of 19 digits after neither "." nor "e": an integer that may exceed 64 bits


def _long_integer(data: bytes) -> bool:
    """Whether ``data`` may hold an integer of 19 digits or more (a string of digits counts too: it only costs the
    fallback)."""
    return (b" " + data).translate(_CLASSES).find(_LONG_INTEGER) != -1


def loads(data: bytes) -> tuple[Any, bool]:
    """``data`` parsed as :func:`json.loads` parses it, and whether it is strict JSON (finite numbers, integers within
    64 bits) that :func:`dumps` may write back with orjson. ``ValueError`` as :func:`json.loads` raises it."""
    if not _long_integer(data):
        try:
            return orjson.loads(data), True
        except orjson.JSONDecodeError:
            pass
    return json.loads(data), False


def dumps(value: Any, strict: bool = False) -> bytes:
    """Compact UTF-8 JSON (``-Infinity`` and other non-finite floats kept as :mod:`json` writes them); ``strict``:
    ``value`` holds no non-finite float (read by :func:`loads` as strict, with only strings and small integers
    added), so orjson writes it."""
    if strict:
        try:
            return orjson.dumps(value)
        except TypeError:  # orjson.JSONEncodeError: an integer beyond 64 bits, a lone surrogate, a non-str key...
            pass
    return json.dumps(value, ensure_ascii=False, allow_nan=True, separators=(",", ":")).encode()
