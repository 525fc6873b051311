"""The proxy's fast JSON (orjson where it agrees with json) reads and writes exactly what the standard library does.

Generated values cover what an upstream can send: integers at and beyond the 64-bit limits (orjson would turn
them into floats), floats from tiny to beyond a double (written as ``Infinity`` by json), NaN, negative zero,
non-ASCII and control characters, lone surrogates, and the same values nested in objects and lists.
"""

from __future__ import annotations

import json
import math
import random

import pytest

from audit.serve.json_codec import dumps, loads

INTEGERS = [0, 1, -1, 2**53, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64 - 1, 2**64, 10**19, -(10**19), 10**40]
FLOATS = [0.0, -0.0, 1.5, -0.00012339999375399202, 1e-300, 5e-324, 1.7976931348623157e308, 1e19, 2.0**64]
FLOATS += [math.inf, -math.inf, math.nan]
STRINGS = [
    "",
    "plain",
    "é ✓ 漢",
    'quote " backslash \\ tab \t nl \n',
    "\x00\x1f\x7f",
    "\ud800 lone",
    "1234567890123456789",
]


def same(a, b) -> bool:
    """Equal values of the same types all the way down (NaN equal to NaN, -0.0 apart from 0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def value(rng: random.Random, depth: int = 0):
    kind = rng.randrange(6 if depth < 3 else 4)
    if kind == 0:
        return rng.choice(INTEGERS) * rng.choice((1, -1))
    if kind == 1:
        return rng.choice(FLOATS) * rng.choice((1.0, -1.0))
    if kind == 2:
        return rng.choice(STRINGS)
    if kind == 3:
        return rng.choice([None, True, False, rng.randrange(-1000, 1000)])
    if kind == 4:
        return [value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(STRINGS) + str(i): value(rng, depth + 1) for i in range(rng.randrange(4))}


@pytest.mark.parametrize("seed", range(300))
def test_reading_and_writing_agree_with_the_standard_library(seed):
    rng = random.Random(seed)
    original = {"choices": [value(rng)], "usage": value(rng), "n": value(rng)}
    for text in (
        json.dumps(original, allow_nan=True).encode(),  # as an upstream writes it, ASCII escapes
        json.dumps(original, allow_nan=True, ensure_ascii=False).encode("utf-8", "surrogatepass"),
        json.dumps(original, allow_nan=True, indent=1).encode(),
    ):
        try:
            expected = json.loads(text)
        except ValueError:
            with pytest.raises(ValueError):
                loads(text)
            continue
        parsed, strict = loads(text)
        assert same(parsed, expected), text[:200]
        try:
            reference = json.dumps(parsed, ensure_ascii=False, allow_nan=True, separators=(",", ":")).encode()
        except UnicodeEncodeError:  # a lone surrogate: no UTF-8 body exists; json's way fails, so must ours
            with pytest.raises(UnicodeEncodeError):
                dumps(parsed, strict)
            continue
        written = dumps(parsed, strict)
        assert same(json.loads(written), json.loads(reference)), (written[:200], reference[:200])


def test_the_fast_path_is_taken_for_an_ordinary_answer_and_refused_where_orjson_would_differ():
    answer = {
        "id": "chatcmpl-1",
        "created": 1_700_000_000,
        "choices": [
            {
                "logprobs": {
                    "content": [{"token": " w", "logprob": -0.00012339999375399202, "id": 1000, "bytes": [32, 119]}]
                }
            }
        ],
    }
    assert loads(json.dumps(answer).encode()) == (answer, True)
    assert loads(b'{"seed": 12345678901234567890}') == ({"seed": 12345678901234567890}, False)  # stays an int
    assert loads(b'{"logprob": -Infinity}')[1] is False and dumps({"x": -math.inf}) == b'{"x":-Infinity}'
