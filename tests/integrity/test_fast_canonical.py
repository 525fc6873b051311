"""The fast RFC 8785 writer (:func:`audit.integrity.canonical.fast_canonical`) against the reference encoder.

Generated values of every kind records hold (nested objects and arrays, strings with quotes, backslashes,
control characters, non-ASCII, astral characters and lone surrogates, integers at and beyond 2**53, floats
of every magnitude, booleans and nulls, non-ASCII keys): wherever the fast writer answers, its text is the
reference's byte for byte; where it declines, the reference decides.
"""

from __future__ import annotations

import math
import random

import pytest
import rfc8785

from audit.integrity.canonical import canonical_bytes, fast_canonical, strict_canonical

STRINGS = [
    "",
    "a",
    'q"uote',
    "back\\slash",
    "ctl\x00\x01\x1f\x7f",
    "\b\f\n\r\t",
    "é日本",
    "😀",
    "\u2028\u2029",
    "\ud83d",
]
KEYS = ["a", "B", "a_b", "z", "é", "\U0001f600", "\ue000", "10", "1"]


def _value(rng: random.Random, depth: int = 0):
    kind = rng.randrange(9 if depth < 4 else 6)
    if kind == 0:
        return rng.choice(STRINGS) + str(rng.randrange(100))
    if kind == 1:
        return rng.choice([0, 1, -1, 2**53 - 1, -(2**53 - 1), 2**53, 2**64, rng.randrange(-(10**6), 10**6)])
    if kind == 2:
        magnitude = 10 ** rng.uniform(-9, 22)
        return rng.choice([magnitude, -magnitude, 0.0, -0.0, 1.0, 0.1, 1e16, 1e-4, 5e-324, math.inf, math.nan])
    if kind == 3:
        return rng.choice([True, False, None])
    if kind in (4, 5):
        return float(rng.randrange(-1000, 1000)) / rng.choice([1, 2, 3, 7, 1024])
    if kind in (6, 7):
        return {rng.choice(KEYS) + str(rng.randrange(3)): _value(rng, depth + 1) for _ in range(rng.randrange(5))}
    return [_value(rng, depth + 1) for _ in range(rng.randrange(5))]


@pytest.mark.parametrize("seed", range(20))
def test_the_fast_writer_gives_the_references_bytes_or_declines(seed):
    rng = random.Random(seed)
    answered = 0
    for _ in range(300):
        value = _value(rng)
        fast = fast_canonical(value)
        try:
            reference = rfc8785.dumps(value).decode("utf-8")
        except (rfc8785.CanonicalizationError, UnicodeEncodeError, ValueError, TypeError):
            reference = None
        if fast is not None:
            answered += 1
            assert fast == reference, value
        assert strict_canonical(value) == reference  # the public writers agree with the reference either way
        if reference is not None:
            assert canonical_bytes(value) == reference.encode("utf-8")
    assert answered > 60
