"""One encoding and one reader for every JSON value stored in an evidence table.

Two parsers can read one text as two values: Python's ``json`` keeps the last of two equal keys,
SQLite's ``json_extract`` the first; one accepts ``NaN``, the other refuses it. So a stored text is
evidence only if it is exactly what its writer writes for the value it parses to: the text is
parsed strictly (a duplicate key, a lone surrogate or text that is not JSON is refused, naming
it) and encoded again with the column's declared encoding (:data:`ENCODINGS`), and the two must
be byte-identical. A duplicate key, extra whitespace, another number form (``1.0`` for ``1``,
``1e2``), an escaped character the writer writes verbatim: each then is a named problem, so every
reader that parses the text gets the one value ``verify`` checked.

``NaN`` and ``Infinity`` appear only where the writer itself writes them: a value RFC 8785 cannot
write (a ``-inf`` log-probability) falls back to Python's form, and the byte comparison holds the
text to exactly that form; whether the value is the one logged is then the payload comparison's
business.

Readers of evidence columns use :func:`read_json`, which raises :class:`StoredValueError` (a
``UserError``: exit 2 with "run `llm-audit verify`") instead of a ``JSONDecodeError`` traceback.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ..errors import UserError
from .canonical import strict_canonical


class StoredValueError(UserError):
    """A stored JSON text that is not the one encoding of one value; ``reason`` says what it is instead."""

    def __init__(self, reason: str, where: str = "") -> None:
        self.reason = reason
        self.where = where
        super().__init__(
            f"{where + ': ' if where else ''}stored JSON {reason}: the database was edited outside llm-audit; "
            "run `llm-audit verify`"
        )


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise StoredValueError(f"has the key {key!r} twice (two readers would read two different values)")
        out[key] = value
    return out


def parse_strict(text: Any) -> Any:
    """The one value of ``text``; :class:`StoredValueError` for a duplicate key, a lone surrogate or non-JSON."""
    if not isinstance(text, str):
        raise StoredValueError(f"is not text but {type(text).__name__}")
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates)
    except StoredValueError:
        raise
    except (ValueError, RecursionError):
        raise StoredValueError(f"is not JSON ({text[:40]!r})") from None
    if "\\u" in text and "\\ud" in text.lower():
        _refuse_surrogates(value)
    return value


def _refuse_surrogates(value: Any) -> None:
    """Lone surrogates can only come from ``\\uD8xx`` escapes (stored text is UTF-8): no writer makes them."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise StoredValueError("holds a lone surrogate (a \\uD800-\\uDFFF escape no writer makes)") from None
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _jcs_or(fallback: Callable[[Any], str]) -> Callable[[Any], str]:
    def encode(value: Any) -> str:
        return strict_canonical(value) or fallback(value)

    return encode


# Each writer's encoding, by name. "jcs..." is RFC 8785, falling back (for a value RFC 8785 cannot write:
# a non-finite number, an integer beyond 2**53) to Python's form; the others are Python's json.dumps forms of the
# columns written before 0.3, kept because their key order means something (template variables) or rows exist.
ENCODINGS: dict[str, Callable[[Any], str]] = {
    "jcs": _jcs_or(lambda v: json.dumps(v, ensure_ascii=False, allow_nan=True)),
    "jcs-sorted": _jcs_or(lambda v: json.dumps(v, ensure_ascii=False, sort_keys=True, allow_nan=True)),
    "plain": lambda v: json.dumps(v, ensure_ascii=False, allow_nan=True),
    "sorted": lambda v: json.dumps(v, ensure_ascii=False, sort_keys=True, allow_nan=True),
    "ascii": lambda v: json.dumps(v, allow_nan=True),
    "ascii-sorted": lambda v: json.dumps(v, sort_keys=True, allow_nan=True),
}


def encode_json(value: Any, encoding: str) -> str:
    """``value`` in the named encoding: what a writer stores, and what :func:`check_text` holds a text to."""
    return ENCODINGS[encoding](value)


def check_text(text: Any, encoding: str | tuple[str, ...]) -> tuple[Any, str | None]:
    """(the parsed value, None) when ``text`` is exactly ``encoding`` of its one value; else (None, what is wrong).

    ``encoding`` may name several: the current writer's first, then those of earlier versions whose rows exist
    (each a fixed function of the value, so a text still has one value and no second spelling).
    """
    try:
        value = parse_strict(text)
    except StoredValueError as exc:
        return None, exc.reason
    names = (encoding,) if isinstance(encoding, str) else encoding
    again = ""
    for name in names:
        try:
            again = encode_json(value, name)
        except (TypeError, ValueError):
            continue
        if again == text:
            return value, None
    return None, (
        "is not in its canonical form (whitespace, number form, escapes or key order differ from what its "
        f"writer writes: {_first_difference(text, again)})"
    )


def _first_difference(text: str, again: str) -> str:
    at = next((i for i, (a, b) in enumerate(zip(text, again)) if a != b), min(len(text), len(again)))
    return f"at character {at}, {text[max(0, at - 10) : at + 10]!r} where {again[max(0, at - 10) : at + 10]!r}"


def read_json(text: str | None, where: str = "") -> Any:
    """The one value of a stored JSON text (None stays None): the reader every evidence reader uses."""
    if text is None:
        return None
    try:
        return parse_strict(text)
    except StoredValueError as exc:
        raise StoredValueError(exc.reason, where) from None


__all__ = ["ENCODINGS", "StoredValueError", "check_text", "encode_json", "parse_strict", "read_json"]
