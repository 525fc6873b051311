"""Every column of every evidence table, in one place: how ``verify`` covers it.

A column of an evidence table is covered in one of two ways:

* it is **inside the logged payload**: the repository rebuilds the payload from the row and
  ``verify`` compares it with what was logged (every column not named below);
* it is **derived** from the payload (or from covered columns) and checked against it: named here
  with the rule and the check that holds it. ``value`` computes the expected value from the row's
  source columns (checked by ``verify``'s ``derived`` check); where it is None a named check of
  its own holds the column (the row's position, its id, a checkpoint's root and signature).

JSON columns also name their encoding (:data:`audit.integrity.canonical_check.ENCODINGS`):
the stored text must be exactly that encoding of the value it parses to.

The property test (``tests/test_integrity_columns.py``) edits every column of every evidence
table, read from the schema, and requires verify to fail naming it; a column added to a table
without being in the payload or here fails that test.
"""

from __future__ import annotations

import io
import json
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..token_blob import LAYOUT as TOKENS
from ..token_blob import steps_of
from .blobs import LAYOUT_PREFIX, expand, max_blob_bytes
from .records import RECORD_JSON_COLUMNS


@dataclass(frozen=True)
class Derived:
    rule: str  # in words, for messages and the docs
    check: str = "derived"  # the verify check that holds the column
    sources: tuple[str, ...] = ()
    value: Callable[..., Any] | None = None  # (source values...) -> the expected value


@dataclass(frozen=True)
class Coverage:
    # JSON column -> its encoding (the current writer's), or a tuple of it and the encodings of earlier versions
    json: dict[str, str | tuple[str, ...]] = field(default_factory=dict)
    derived: dict[str, Derived] = field(default_factory=dict)


POSITION = Derived("the row's position: the n-th event of its kind has its row at seq n", "evidence-order")
IDENTITY = Derived("the subject of the row's event: a row whose id no event names has no event", "evidence-rows")


# The source columns are held to their one encoding by verify's own checks, so the derived values parse them with
# the C parser (100,000 records: a fraction of a second instead of seconds through the strict reader's hook).
def _model_name(model: str) -> Any:
    return json.loads(model)["name"]


def _weights_text(model: str) -> str:
    weights = json.loads(model)["weights_sha256"]
    return ",".join(f"{k}={v}" for k, v in sorted(weights.items()))


def _body_member(key: str) -> Callable[[str], Any]:
    return lambda body: json.loads(body).get(key)


def blob_header(data: bytes) -> tuple[str, str, int]:
    """(dtype, shape, raw bytes) read from a stored blob: an array's ``.npy`` header (expanding only its first bytes),
    or a laid-out blob's layout line and, for a tokens blob, its number of tokens (:mod:`audit.store.blobs`)."""
    head = zlib.decompressobj().decompress(bytes(data), 65536)
    if head.startswith(LAYOUT_PREFIX):
        raw = expand(bytes(data), max_blob_bytes())
        end = raw.index(b"\n")
        layout = raw[:end].decode("ascii")
        shape = str(steps_of(raw[end + 1 :])) if layout == TOKENS else ""
        return layout, shape, len(raw)
    buffer = io.BytesIO(head)
    version = np.lib.format.read_magic(buffer)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _fortran, dtype = read(buffer)
    count = int(np.prod(shape)) if shape else 1
    return str(dtype), ",".join(map(str, shape)), count * dtype.itemsize


SKIP = object()  # a derived value that cannot be computed from this row: not checked


def _blob_part(index: int) -> Callable[[bytes], Any]:
    def part(data: bytes) -> Any:
        try:
            return blob_header(data)[index]
        except (ValueError, zlib.error, EOFError, OSError, TypeError, AttributeError, UnicodeDecodeError):
            return SKIP  # no readable .npy header: nothing to derive (reading it whole is the blob reader's job)

    return part


_DOCUMENT = Coverage(
    json={"body": "plain"},
    derived={
        "seq": POSITION,
        "id": IDENTITY,
        "record_id": Derived("the body's record_id", sources=("body",), value=_body_member("record_id")),
        "created_at": Derived("the body's created_at", sources=("body",), value=_body_member("created_at")),
    },
)

_ROW = Coverage(derived={"seq": POSITION, "id": IDENTITY})

COVERAGE: dict[str, Coverage] = {
    "generations": Coverage(
        json={**dict.fromkeys(RECORD_JSON_COLUMNS, "jcs"), "variables": "plain"},
        derived={
            "seq": POSITION,
            "id": IDENTITY,
            "model_name": Derived("the model column's name", sources=("model",), value=_model_name),
            "weights_sha256": Derived(
                "the model column's weights_sha256, as name=sha256 pairs", sources=("model",), value=_weights_text
            ),
        },
    ),
    "explanations": Coverage(
        json=dict.fromkeys(
            ("features", "output_tokens", "params", "convergence_delta", "extra"), ("jcs-sorted", "sorted")
        ),
        derived={"seq": POSITION, "id": IDENTITY},
    ),
    "attention_maps": Coverage(json={"tokens": "plain", "extra": "sorted"}, derived={"seq": POSITION, "id": IDENTITY}),
    "replays": Coverage(
        json=dict.fromkeys(
            (
                "model_match",
                "environment_diff",
                "first_divergence",
                "replayed_output_ids",
                "replayed_token_logprobs",
                "extra",
            ),
            "plain",
        ),
        derived={"seq": POSITION, "id": IDENTITY},
    ),
    "reports": Coverage(
        json={"record_ids": "ascii", "filters": "ascii-sorted"}, derived={"seq": POSITION, "id": IDENTITY}
    ),
    "counterfactuals": _DOCUMENT,
    "fairness_reports": _DOCUMENT,
    "alerts": _DOCUMENT,
    "checkpoints": Coverage(
        derived={
            "id": Derived("the subject of the checkpoint's event", "tables"),
            "root_hash": Derived("the Merkle root of the log at the checkpoint's tree size", "checkpoint-root"),
            "signature": Derived("the Ed25519 signature of its size, root and time", "checkpoint-signature"),
        }
    ),
    "provenance": _ROW,
    "api_keys": _ROW,
    "reviews": _ROW,
    "findings": _ROW,
    "assignments": _ROW,
    "user_changes": _ROW,
    "blobs": Coverage(
        derived={
            "sha256": Derived("the SHA-256 of the stored bytes, named by the evidence that references it", "blobs"),
            "data": Derived("the bytes whose SHA-256 is the blob's key", "blobs"),
            "dtype": Derived(
                "the dtype in the array's .npy header (a laid-out blob: its layout line)",
                sources=("data",),
                value=_blob_part(0),
            ),
            "shape": Derived(
                "the shape in the array's .npy header (a tokens blob: its number of tokens)",
                sources=("data",),
                value=_blob_part(1),
            ),
            "raw_bytes": Derived(
                "the array's size from its .npy header (a laid-out blob: its expanded size)",
                sources=("data",),
                value=_blob_part(2),
            ),
        }
    ),
}


def _key(table: str) -> str:
    return "sha256" if table == "blobs" else "id"


def json_texts(db: Any, table: str, row_id: str | None = None) -> Iterator[tuple[str, str, str, Any]]:
    """(row id, column, stored text, its encoding) of every declared JSON column of ``table`` (of one row, or all)."""
    coverage = coverage_of(table)
    present = db[table].columns_dict if db[table].exists() else {}
    wanted = [c for c in coverage.json if c in present]
    if not wanted:
        return
    key = _key(table)
    sql = f"SELECT {key}, {', '.join(wanted)} FROM {table}"
    rows = db.execute(sql + f" WHERE {key} = ?", [row_id]) if row_id is not None else db.execute(sql)
    for found_id, *texts in rows:
        for column, text in zip(wanted, texts):
            if text is not None:
                yield str(found_id), column, text, coverage.json[column]


def derived_values(db: Any, table: str) -> Iterator[tuple[str, str, Any, Any, Derived]]:
    """(row id, column, stored value, the value derived from its sources or SKIP, rule) of every derived column."""
    coverage = coverage_of(table)
    if not db[table].exists():
        return
    present = db[table].columns_dict
    computed = {
        column: rule
        for column, rule in coverage.derived.items()
        if rule.value is not None and column in present and all(s in present for s in rule.sources)
    }
    if not computed:
        return
    key = _key(table)
    sources = sorted({s for rule in computed.values() for s in rule.sources})
    selected = [key, *computed, *sources]
    for row in db.execute(f"SELECT {', '.join(selected)} FROM {table}"):
        values = dict(zip(selected, row))
        for column, rule in computed.items():
            try:
                expected = rule.value(*(values[s] for s in rule.sources))
            except (ValueError, KeyError, TypeError, AttributeError):
                expected = SKIP  # the source itself is malformed: its own check names it
            yield str(values[key]), column, values[column], expected, rule


def coverage_of(table: str) -> Coverage:
    """How ``table``'s columns are covered (a table not named here: every column is in the payload)."""
    return COVERAGE.get(table, _ROW)


__all__ = ["SKIP", "COVERAGE", "Coverage", "Derived", "blob_header", "coverage_of", "derived_values", "json_texts"]
