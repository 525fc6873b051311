"""Records version 4 (:mod:`audit.store.record_refs`): each value stored once, read back exactly, verified.

Generated records (random token arrays of every width, proxied and local tags, user tags that look like
references) are stored in versions 3 and 4 side by side: each reads back equal to what was stored, the
database verifies, the version-4 row and payload name their blobs by the SHA-256 of the stored bytes
(checked here with hashlib, independently of the store), and one environment blob serves every record.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
import random
import sqlite3
import zlib

import numpy as np
import pytest

from audit.environment import Environment
from audit.ids import uuid7
from audit.integrity.chain_pass import verify_store
from audit.record import GenerationRecord, ModelIdentity, TopAlternative
from audit.store import AuditStore
from audit.token_blob import pack, steps_of, unpack

_MODEL = ModelIdentity("m", "tests", "Llama", "llama", 1, None, {"w": "ab" * 32}, "cd" * 32, {}, None, 512)
_ENV = Environment("3.11", {"torch": "2.4"}, "linux", "x86_64", "cpu", "cpu", "cpu", "float32", 1)
KNOWN = {"environment": "the proxy host", "prompt": "unknown (the upstream applies its own chat template)"}


def _record(rng: random.Random, version: int, tags: dict) -> GenerationRecord:
    n = rng.randrange(0, 40)
    wide = rng.random() < 0.2

    def logprob() -> float:
        if rng.random() < 0.03:
            return -math.inf
        value = -rng.random() * 12
        return value if rng.random() < 0.3 else float(np.float32(value))

    tops = [
        [
            TopAlternative(rng.choice([rng.randrange(50_000), -1, -3, 2**40 if wide else 9]), rng.choice(["a", " é", "\ud83d", ""]), logprob())
            for _ in range(rng.randrange(6))
        ]
        for _ in range(n)
    ]  # fmt: skip
    return GenerationRecord(
        id=uuid7(),
        started_at="2026-12-06T10:00:00.000000Z",
        finished_at="2026-12-06T10:00:01.000000Z",
        duration_s=1.0,
        use_case="general",
        operator="tests",
        prompt_kind="text",
        prompt="Is 45% high?",
        template=None,
        variables=None,
        messages=None,
        system=None,
        add_special_tokens=True,
        input_ids=[1, 2, 3],
        output_ids=[rng.randrange(50_000) for _ in range(n)],
        output_text="x" * n,
        finish_reason="length",
        token_logprobs=[logprob() for _ in range(n)],
        top_logprobs=tops,
        generation_config={"max_new_tokens": n},
        seed=rng.randrange(2**31),
        model=_MODEL,
        environment=_ENV,
        schema_version=version,
        tags=copy.deepcopy(tags),
    )


TAGS = [
    {},
    {"proxy": {"known": KNOWN, "upstream": "http://127.0.0.1:1/v1"}, "serve": {"delivery": {"state": "answered"}}},
    # look-alikes a caller may write: never resolved, never counted as blobs
    {"environment": {"blob": "ab" * 32}, "known": {"blob": "cd" * 32}},
    {"proxy": {"known": "a text, not an object"}},
]


@pytest.fixture
def stored(tmp_path):
    rng = random.Random(4)
    records = [_record(rng, version, TAGS[i % len(TAGS)]) for i in range(24) for version in (3, 4)]
    db = tmp_path / "audit.db"
    with AuditStore.open(db, write=True) as store:
        for record in records:
            store.records.append(record)
    return db, records


def _same(a: GenerationRecord, b: GenerationRecord) -> bool:
    def plain(r: GenerationRecord) -> str:
        return json.dumps(dataclasses.asdict(r), sort_keys=True, default=str)  # -inf and nan compare as text

    return plain(a) == plain(b)


def test_every_version_reads_back_exactly_and_verifies(stored):
    db, records = stored
    with AuditStore.open(db) as store:
        for record in records:
            assert _same(store.records.get(record.id), record)
        assert [r.id for r in store.records.iter()] == [r.id for r in records]
        result = verify_store(store)
    assert result.ok, result.problems
    assert result.projected == result.events >= len(records)  # checkpoints are evidence too


def test_version_4_names_its_blobs_by_the_hash_of_their_bytes(stored):
    db, records = stored
    conn = sqlite3.connect(db)
    blobs = {
        d: (t, s, n, bytes(b))
        for d, t, s, n, b in conn.execute("SELECT sha256, dtype, shape, raw_bytes, data FROM blobs")
    }
    for record in records:
        row = conn.execute(
            "SELECT environment, output_ids, token_logprobs, top_logprobs, tags FROM generations WHERE id = ?",
            [record.id],
        ).fetchone()
        payload = json.loads(conn.execute("SELECT payload FROM events WHERE subject_id = ?", [record.id]).fetchone()[0])
        if record.schema_version == 3:
            assert json.loads(row[0]) == _ENV.to_dict() and json.loads(row[3])["layout"] == "llm-audit-top/1"
            assert json.loads(row[1]) == record.output_ids
            continue
        env, ids, logprobs, top = (json.loads(v)["blob"] for v in row[:4])
        assert ids == logprobs == top and payload["environment"] == {"blob": env}
        assert payload["output_ids"] == payload["token_logprobs"] == payload["top_logprobs"] == {"blob": top}
        for digest in (env, top):
            assert hashlib.sha256(blobs[digest][3]).hexdigest() == digest
        layout, shape, size, data = blobs[top]
        raw = zlib.decompress(data)
        assert layout == "llm-audit-tokens/1" and raw.startswith(b"llm-audit-tokens/1\n") and size == len(raw)
        body = raw[len(b"llm-audit-tokens/1\n") :]
        assert body == pack(record.output_ids, record.token_logprobs, record.top_logprobs)
        assert shape == str(steps_of(body)) == str(len(record.output_ids))
        assert json.loads(zlib.decompress(blobs[env][3]).split(b"\n", 1)[1]) == _ENV.to_dict()
        tags = json.loads(row[4])
        known = tags.get("proxy", {}).get("known")
        if isinstance(record.tags.get("proxy", {}).get("known"), dict):
            assert (
                set(known) == {"blob"}
                and json.loads(zlib.decompress(blobs[known["blob"]][3]).split(b"\n", 1)[1]) == KNOWN
            )
        else:
            assert tags == record.tags  # nothing else in tags is taken for a reference
    shared = conn.execute("SELECT COUNT(*) FROM blobs WHERE dtype = 'llm-audit-json/1'").fetchone()[0]
    assert shared == 2  # one environment and one proxy statement for every version-4 record


def test_tokens_blob_round_trip_of_generated_arrays():
    rng = random.Random(11)
    for _ in range(80):
        record = _record(rng, 4, {})
        if rng.random() < 0.2:  # arrays of different lengths, long texts
            record.token_logprobs = record.token_logprobs[: rng.randrange(len(record.token_logprobs) + 1)]
            record.top_logprobs.append([TopAlternative(7, "x" * 300, -1.0)])
        ids, values, steps = unpack(pack(record.output_ids, record.token_logprobs, record.top_logprobs))
        assert ids == record.output_ids
        assert json.dumps(values) == json.dumps(record.token_logprobs)  # -inf and nan as text
        expected = [[(a.token_id, a.token, a.logprob) for a in step] for step in record.top_logprobs]
        assert json.dumps(steps) == json.dumps(expected)


def test_the_tokens_blob_is_smaller_than_the_arrays_compressed_as_they_are():
    """Byte-shuffling is what the layout pays for: checked against zlib of the plain arrays."""
    rng = random.Random(5)
    tops = [
        [TopAlternative(rng.randrange(49152), rng.choice([" the", " loan", " w1"]), float(np.float32(-rng.expovariate(1))))
         for _ in range(5)]
        for _ in range(256)
    ]  # fmt: skip
    ids = [step[0].token_id for step in tops]
    logprobs = [step[0].logprob for step in tops]
    plain = b"".join(
        [np.asarray(ids, "<i4").tobytes(), np.asarray(logprobs, "<f4").tobytes()]
        + [np.asarray([a.token_id for s in tops for a in s], "<i4").tobytes()]
        + [np.asarray([a.logprob for s in tops for a in s], "<f4").tobytes()]
        + [a.token.encode() for s in tops for a in s]
    )
    shuffled = zlib.compress(pack(ids, logprobs, tops), 6)
    assert len(shuffled) < 0.95 * len(zlib.compress(plain, 6))
    assert len(shuffled) / 256 <= 60  # bytes per output token with top-5 alternatives and their texts


def test_the_payload_joined_from_the_row_is_the_encoders_text_of_the_payload():
    """The writer logs the payload joined from the row's canonical columns (no second encoding); it must be the very
    bytes RFC 8785 gives for the payload, for every kind of record: checked against the reference encoder."""
    import rfc8785

    from audit.record import DecisionRecord
    from audit.store.records import _row_texts, generation_payload, payload_text, stored_form

    rng = random.Random(9)
    joined = 0
    for i in range(200):
        record = _record(rng, rng.choice([1, 2, 3, 4]), TAGS[i % len(TAGS)])
        record.duration_s = rng.choice([0.5, 1e-7, 12.25, float("nan"), 3.0])
        record.variables = rng.choice([None, {"zeta": "1", "alpha": 2, "é": "x"}, {"b": [1.5, None], "a": "\u2028"}])
        record.prompt = rng.choice(["plain", 'quote " back \\ ctl \x01 é 日本', "\ud83d lone"])
        if rng.random() < 0.5:
            record.decision = DecisionRecord(
                ["A", "B"], "A", "free", {"A": [1], "B": [2]}, {"A": -0.1, "B": rng.choice([-2.5, -math.inf])},
                {"A": 0.9, "B": 0.1}, "A", "B", 2.4, None, False,
            )  # fmt: skip
        data, _ = stored_form(record)
        row, exact = _row_texts(record, data)
        text = payload_text(row, data.get("variables")) if exact else None
        payload = generation_payload(record, data)
        try:
            reference = rfc8785.dumps(payload).decode("utf-8")
        except rfc8785.CanonicalizationError:
            reference = None  # the payload needs the tagged rewrite: the joined text must not be used
        assert text == reference or (text is None and reference is not None), record.id
        joined += text is not None
    assert joined > 20  # the joined text is used wherever the values allow it (the edge cases above are many)
