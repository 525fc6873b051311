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
import re
from json.encoder import encode_basestring
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
    fast = fast_canonical(value)
    if fast is not None:
        return fast.encode("utf-8")
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError:
        return rfc8785.dumps(jcs_safe(value))


def strict_canonical(value: Any) -> str | None:
    """JCS text of ``value``, or None when it holds a number JCS cannot write (see module doc).

    For storing a value in canonical form where it must also parse back unchanged: the
    tagged rewrite of :func:`canonical_bytes` would not.
    """
    fast = fast_canonical(value)
    if fast is not None:
        return fast
    try:
        return rfc8785.dumps(value).decode("utf-8")
    except rfc8785.CanonicalizationError:
        return None


class _Slow(Exception):
    """A value :func:`fast_canonical` leaves to the reference encoder."""


def fast_canonical(value: Any) -> str | None:
    """JCS text of ``value`` for the values records hold, with the C string encoder; None for anything else.

    The reference encoder (``rfc8785``) is pure Python: it took two fifths of a recording proxy's CPU per
    record. This one writes strings with :func:`json.encoder.encode_basestring` (identical to JCS, see
    :func:`canonical_scalar`), safe integers in decimal and floats in ECMAScript's form where Python's
    ``repr`` agrees with it (:func:`_es6_float`); keys must be ASCII (their code-point order is then JCS's
    UTF-16 order). Anything else (a float outside that range, a big integer, a non-ASCII key, a lone
    surrogate, another type) returns None, and the caller uses the reference encoder for the whole value:
    the test suite holds the two to the same bytes over generated values.
    """
    try:
        return _fast(value)
    except _Slow:
        return None


def _fast(value: Any) -> str:
    if isinstance(value, str):
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise _Slow from None  # a lone surrogate: JCS refuses it, the reference encoder says how
        return encode_basestring(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is int:
        if abs(value) > _MAX_SAFE_INT:
            raise _Slow
        return str(value)
    if type(value) is float:
        text = _es6_float(value)
        if text is None:
            raise _Slow
        return text
    if isinstance(value, dict):
        keys = list(value)
        if not all(type(key) is str and key.isascii() for key in keys):
            raise _Slow
        keys.sort()
        return "{" + ",".join(encode_basestring(key) + ":" + _fast(value[key]) for key in keys) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_fast(item) for item in value) + "]"
    raise _Slow


def same_content(canonical_text: str, value: Any) -> bool:
    """Whether ``value`` is the content logged as ``canonical_text``.

    Compares parsed values instead of re-canonicalising: the pure-Python JCS encoder
    costs milliseconds per record, parsing and ``==`` run in C. JCS numbers parse back to
    the identical double, so the comparison is exact.
    """
    logged = json.loads(canonical_text)
    return logged == value or logged == jcs_safe(value)


# Strings that JCS writes verbatim between quotes: no quote, backslash or control character.
_VERBATIM = re.compile(r'[^"\\\x00-\x1f]*\Z')


def canonical_object(members: dict[str, str], *, ascii_keys: bool = False) -> str:
    """JCS text of an object whose members are given as already canonical value texts.

    Lets a caller that keeps each part of a payload in canonical form (the ``generations``
    columns) rebuild the payload's exact text by concatenation, without parsing or
    re-encoding anything. Keys are sorted by code point, which equals JCS's UTF-16 order
    for the ASCII keys our records use; a non-ASCII key falls back to the encoder.
    """
    if not ascii_keys and not all(key.isascii() for key in members):
        return canonical_bytes({k: json.loads(v) for k, v in members.items()}).decode("utf-8")
    return "{" + ",".join(f"{encode_basestring(k)}:{members[k]}" for k in sorted(members)) + "}"


def canonical_scalar(value: str | int | float | bool | None) -> str:
    """JCS text of one scalar, in microseconds: strings via the C JSON encoder.

    The C string encoder behind ``json.dumps(..., ensure_ascii=False)`` escapes exactly
    what JCS escapes (quote, backslash, U+0000-U+001F with the same short forms), so the
    texts are identical; a lone surrogate, which JCS rejects, gives text that will not
    match and so fails safe.
    """
    if isinstance(value, str):
        return encode_basestring(value)
    if value is None or isinstance(value, bool):
        return "null" if value is None else ("true" if value else "false")
    if isinstance(value, int) and abs(value) <= _MAX_SAFE_INT:
        return str(value)  # JCS writes a safe integer in plain decimal
    if isinstance(value, float):
        fast = _es6_float(value)
        if fast is not None:
            return fast
    return canonical_bytes(value).decode("utf-8")


def _es6_float(value: float) -> str | None:
    """ECMAScript's Number-to-String for 1e-4 <= |x| < 1e16 (and 0), where it and Python's ``repr`` agree digit for
    digit (both the shortest round-trip form) and differ only in the ``.0`` of integral values; None elsewhere."""
    if value == 0.0:
        return "0"
    if not 1e-4 <= abs(value) < 1e16:
        return None
    text = repr(value)
    if "e" in text or "n" in text:
        return None
    return text[:-2] if text.endswith(".0") else text


def canonical_flat(value: Any) -> str | None:
    """JCS text of a flat object of ASCII keys and string/safe-int/None/bool values, fast; None for anything else."""
    if not isinstance(value, dict) or not all(isinstance(k, str) and k.isascii() for k in value):
        return None
    members = {}
    for key, item in value.items():
        if isinstance(item, float) or not (item is None or isinstance(item, str | int | bool)):
            return None
        if isinstance(item, int) and not isinstance(item, bool) and abs(item) > _MAX_SAFE_INT:
            return None
        members[key] = canonical_scalar(item)
    return canonical_object(members, ascii_keys=True)


def canonical_header(created_at: str, kind: str, subject_id: str) -> bytes:
    """JCS of ``{"created_at", "kind", "subject_id"}``, hashed into every leaf.

    Computed once per event on append and on every verification, so the common case of
    plain strings is formatted directly (byte-identical to JCS, which writes such strings
    verbatim); anything else goes through the encoder.
    """
    if _VERBATIM.match(created_at) and _VERBATIM.match(kind) and _VERBATIM.match(subject_id):
        try:
            return f'{{"created_at":"{created_at}","kind":"{kind}","subject_id":"{subject_id}"}}'.encode()
        except UnicodeEncodeError:
            pass
    return canonical_bytes({"created_at": created_at, "kind": kind, "subject_id": subject_id})
