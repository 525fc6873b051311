"""The packed token columns of records version 3 (:mod:`audit.token_pack`): lossless, compact, one decoder.

Generated cases cover every width the encoder chooses (float32 only when every value survives the round
trip, int64 ids only when int32 cannot hold them), sealed and stand-in ids, texts that are not valid
UTF-8 on their own (lone surrogates), -inf log-probabilities and steps without alternatives; the packed
form is checked against the JSON it replaces, and a stored record reads back and verifies.
"""

from __future__ import annotations

import base64
import json
import math
import random
import zlib

import numpy as np
import pytest

from audit.record import TopAlternative
from audit.token_pack import pack_logprobs, pack_top, unpack


def _steps(rng: random.Random, n: int, k: int, exact32: bool, wide_ids: bool) -> list[list[TopAlternative]]:
    def logprob() -> float:
        value = -rng.random() * 20
        if rng.random() < 0.05:
            return -math.inf
        return float(np.float32(value)) if exact32 else value

    def token_id() -> int:
        return rng.choice([rng.randrange(50_000), -1, -2 - rng.randrange(5), 2**40 if wide_ids else 7])

    texts = ["a", " the", "é", "\ud83d", "", "日本", "\n\t", "x" * 40]
    return [
        [TopAlternative(token_id(), rng.choice(texts), logprob()) for _ in range(rng.randrange(k + 1))]
        for _ in range(n)
    ]


@pytest.mark.parametrize("exact32", [True, False], ids=["float32-exact", "float64"])
@pytest.mark.parametrize("wide_ids", [False, True], ids=["int32", "int64"])
@pytest.mark.parametrize("seed", range(5))
def test_packing_is_lossless_for_every_width(exact32, wide_ids, seed):
    rng = random.Random(seed)
    steps = _steps(rng, rng.randrange(0, 60), 6, exact32, wide_ids)
    packed = pack_top(steps)
    assert packed["layout"] == "llm-audit-top/1" and packed["steps"] == len(steps)
    assert unpack(packed) == [[(a.token_id, a.token, a.logprob) for a in step] for step in steps]
    values = [a.logprob for step in steps for a in step]
    assert unpack(pack_logprobs(values)) == values
    assert json.loads(json.dumps(packed)) == packed  # plain JSON: strings and an int


def test_float32_is_chosen_only_when_exact():
    exact = [float(np.float32(-0.1)), -math.inf]
    inexact = [-0.1]
    # float32: 4 bytes a value, float64: 8; the decoded values are the originals either way
    assert unpack(pack_logprobs(exact)) == exact and unpack(pack_logprobs(inexact)) == inexact
    raw = zlib.decompress(base64.b64decode(pack_logprobs(exact)["data"]))
    assert raw[0] == 0 and len(raw) == 5 + 4 * len(exact)
    raw = zlib.decompress(base64.b64decode(pack_logprobs(inexact)["data"]))
    assert raw[0] == 2 and len(raw) == 5 + 8 * len(inexact)


def test_top5_of_a_float32_model_packs_under_a_fifth_of_its_json():
    rng = random.Random(7)
    steps = [
        [
            TopAlternative(rng.randrange(50_000), f" w{rng.randrange(3000)}", float(np.float32(-rng.random() * 9)))
            for _ in range(5)
        ]
        for _ in range(64)
    ]
    as_json = json.dumps([[a.__dict__ for a in step] for step in steps])
    packed = json.dumps(pack_top(steps))
    assert len(packed) * 5 < len(as_json)
    assert len(packed) / len(steps) <= 70  # bytes per output token, top 5 with their texts


@pytest.mark.parametrize(
    "damage",
    [
        lambda p: {**p, "layout": "llm-audit-top/9"},
        lambda p: {**p, "steps": p["steps"] + 1},
        lambda p: {**p, "data": p["data"][:-8]},
        lambda p: {**p, "data": "not base64!"},
    ],
    ids=["unknown layout", "wrong step count", "truncated", "not base64"],
)
def test_a_damaged_packed_value_is_refused_not_misread(damage):
    packed = pack_top([[TopAlternative(1, "a", -0.5)] * 3] * 4)
    with pytest.raises(Exception) as caught:
        unpack(damage(packed))
    assert isinstance(caught.value, ValueError | zlib.error)
