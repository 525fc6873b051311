"""Parquet copies of a pack's events and records, for analysts (pandas, DuckDB, Spark).

Copies, not evidence: the verifier proves the JSON Lines; each Parquet row carries its event's seq,
leaf hash and canonical payload text, so any row can be matched to the proven line. Records get one
column per top-level field of the logged payload (nested values as JSON text, keys sorted), with the
values a version-4 record holds by reference (environment, token arrays) read from the pack's blobs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..integrity.chain import ChainedEvent
from ..store.record_refs import Resolver, pack_body

EVENTS_PARQUET = "records/events.parquet"
RECORDS_PARQUET = "records/records.parquet"


def write_events(path: Path, events: Iterable[ChainedEvent]) -> None:
    import pyarrow as pa  # here, not at import: the CLI starts without it
    import pyarrow.parquet as pq

    rows = list(events)
    table = pa.table(
        {
            "seq": pa.array([e.seq for e in rows], pa.int64()),
            "kind": pa.array([e.kind for e in rows], pa.string()),
            "subject_id": pa.array([e.subject_id for e in rows], pa.string()),
            "created_at": pa.array([e.created_at for e in rows], pa.string()),
            "payload_sha256": pa.array([e.payload_sha256 for e in rows], pa.string()),
            "leaf_hash": pa.array([e.leaf_hash for e in rows], pa.string()),
            "payload": pa.array([e.payload for e in rows], pa.string()),
        }
    )
    pq.write_table(table, path)


def write_records(path: Path, records: list[tuple[int, str]], blobs: dict[str, bytes]) -> None:
    """``records``: (generation seq, canonical payload text) of each exported record; ``blobs``: the pack's."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    resolver = Resolver(pack_body(blobs))
    parsed = [resolver.readable(json.loads(text)) for _, text in records]
    names = sorted({name for payload in parsed for name in payload})
    columns: dict[str, Any] = {"seq": pa.array([seq for seq, _ in records], pa.int64())}
    for name in names:
        columns[name] = _column([payload.get(name) for payload in parsed])
    pq.write_table(pa.table(columns), path)


def _column(values: list[Any]) -> Any:
    """Scalars as their own type where they share one; anything nested (or mixed) as JSON text."""
    import pyarrow as pa

    if all(v is None or isinstance(v, str | bool | int | float) for v in values):
        kinds = {type(v) for v in values if v is not None}
        if len(kinds) <= 1 and not (kinds == {int} and any(abs(v) > 2**63 - 1 for v in values if v is not None)):
            return pa.array(values)
    return pa.array([None if v is None else _json(v) for v in values], pa.string())


def _json(value: Any) -> str:
    """JSON text with sorted keys (a copy for reading: the proven bytes are the payload column and the JSON Lines)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
