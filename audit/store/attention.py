"""The ``attention_maps`` table: stored attention analyses, arrays as float16 blobs.

Per-head maps grow with layers x heads x seq^2 (SmolLM2, 100 tokens: 2.7M values,
10.8 MB in float32), so by default only the head-aggregated maps per layer (mean, max)
are kept, in float16 (3 significant digits, enough for weights in [0, 1] a report shows
to two decimals) and zlib-compressed by :mod:`audit.store.blobs`; the causal upper
triangle is zeros and compresses to almost nothing. Per-head maps are stored only when
asked for, also in float16.

Two small arrays stay float32 on purpose. The rollout block (n_output x n_input, ~1% of
the bytes): on SmolLM2 it puts ~0.999 of every row on the first token (an attention
sink) and the rest in entries of 1e-6..1e-4, below float16's normal range (6.1e-5),
where float16 keeps only 1-2 significant digits and would reorder the tokens a report
ranks. Head importance: a layers x heads table compared against Captum to 1e-6.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import numpy as np
import sqlite_utils

from ..attention.result import AttentionResult
from .append_only import append_only
from .blobs import BlobRepository
from .database import atomic
from .events import EventLog
from .evidence import EvidenceRepository, assign_identity
from .schema import register

TABLE = "attention_maps"
MAP_DTYPE = np.float16
ARRAYS = ("layer_mean", "layer_max", "rollout", "head_importance", "per_head")

register(
    "attention",
    1,
    "attention maps table",
    f"""CREATE TABLE {TABLE} (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        record_id TEXT NOT NULL REFERENCES generations(id),
        created_at TEXT NOT NULL,
        tokens TEXT NOT NULL,
        n_input INTEGER NOT NULL,
        layers INTEGER NOT NULL,
        heads INTEGER NOT NULL,
        layer_mean_sha256 TEXT NOT NULL REFERENCES blobs(sha256),
        layer_max_sha256 TEXT NOT NULL REFERENCES blobs(sha256),
        rollout_sha256 TEXT NOT NULL REFERENCES blobs(sha256),
        head_importance_sha256 TEXT NOT NULL REFERENCES blobs(sha256),
        per_head_sha256 TEXT REFERENCES blobs(sha256),
        head_importance_method TEXT NOT NULL,
        seconds REAL NOT NULL,
        logprob_max_diff REAL,
        stored_bytes INTEGER NOT NULL,
        extra TEXT NOT NULL
    )""",
    f"CREATE INDEX idx_{TABLE}_record ON {TABLE} (record_id, seq)",
)
register("attention", 2, "append-only guard on attention_maps", *append_only(TABLE))


def storage_arrays(result: AttentionResult) -> dict[str, np.ndarray | None]:
    """The arrays exactly as stored: maps in float16, rollout and head importance in float32."""
    return {
        "layer_mean": result.layer_mean.astype(MAP_DTYPE),
        "layer_max": result.layer_max.astype(MAP_DTYPE),
        "rollout": result.rollout.astype(np.float32),
        "head_importance": result.head_importance.astype(np.float32),
        "per_head": result.per_head.astype(MAP_DTYPE) if result.per_head is not None else None,
    }


def _payload(row: dict[str, Any]) -> dict[str, Any]:
    """The logged content of an attention event, built from a table row (arrays by SHA-256)."""
    return {
        "id": row["id"],
        "record_id": row["record_id"],
        "created_at": row["created_at"],
        "tokens": json.loads(row["tokens"]),
        "n_input": row["n_input"],
        "layers": row["layers"],
        "heads": row["heads"],
        "blobs": {name: row[f"{name}_sha256"] for name in ARRAYS},
        "head_importance_method": row["head_importance_method"],
        "seconds": row["seconds"],
        "logprob_max_diff": row["logprob_max_diff"],
        "stored_bytes": row["stored_bytes"],
        "extra": json.loads(row["extra"]),
    }


class AttentionRepository(EvidenceRepository):
    """Append and read attention analyses: ``attention_maps`` (arrays in blobs) and its ``attention`` events."""

    kind = "attention"
    table = TABLE
    columns_of_fields: ClassVar[dict[str, str]] = {f"blobs.{name}": f"{name}_sha256" for name in ARRAYS}

    def __init__(self, db: sqlite_utils.Database, events: EventLog, blobs: BlobRepository) -> None:
        super().__init__(db, events)
        self.blobs = blobs

    def append(self, result: AttentionResult) -> int:
        """Store ``result`` and log its event; returns the event's seq.

        ``stored_bytes`` is the compressed size of this result's blobs, counted whether or
        not an identical blob was already stored by an earlier run.
        """
        assign_identity(result)
        with atomic(self.db.conn):
            row = self._row_of(result)
            return self._append_row(result.id, row, _payload(row))

    def _row_of(self, result: AttentionResult) -> dict[str, Any]:
        """The row to insert, its arrays put in blobs first (in the caller's transaction)."""
        digests = {
            name: (self.blobs.put(array) if array is not None else None)
            for name, array in storage_arrays(result).items()
        }
        stored = sum(self.blobs.stored_size(d) for d in digests.values() if d is not None)
        row = {
            "id": result.id,
            "record_id": result.record_id,
            "created_at": result.created_at,
            "tokens": json.dumps(result.tokens, ensure_ascii=False),
            "n_input": result.n_input,
            "layers": result.layers,
            "heads": result.heads,
            **{f"{name}_sha256": digest for name, digest in digests.items()},
            "head_importance_method": result.head_importance_method,
            "seconds": result.seconds,
            "logprob_max_diff": result.logprob_max_diff,
            "stored_bytes": stored,
            "extra": json.dumps(result.extra, sort_keys=True, ensure_ascii=False),
        }
        result.stored_bytes = stored
        return row

    def blob_digests(self, payload: dict[str, Any]) -> list[str]:
        blobs = payload.get("blobs")
        return [d for d in blobs.values() if isinstance(d, str)] if isinstance(blobs, dict) else []

    def payload(self, subject_id: str) -> dict[str, Any]:
        rows = list(self.db.query(f"SELECT * FROM {TABLE} WHERE id = ?", [subject_id])) if self.exists() else []
        if not rows:
            raise KeyError(subject_id)
        return _payload(rows[0])

    def _row(self, where: str, params: list[Any]) -> dict[str, Any] | None:
        rows = list(self._chain_ordered(where, params, newest_first=True, limit=1))
        return rows[0] if rows else None

    def _from_row(self, row: dict[str, Any]) -> AttentionResult:
        arrays = {name: (self.blobs.get(row[f"{name}_sha256"]) if row[f"{name}_sha256"] else None) for name in ARRAYS}
        return AttentionResult(
            record_id=row["record_id"],
            tokens=json.loads(row["tokens"]),
            n_input=row["n_input"],
            layers=row["layers"],
            heads=row["heads"],
            layer_mean=arrays["layer_mean"],
            layer_max=arrays["layer_max"],
            rollout=arrays["rollout"],
            head_importance=arrays["head_importance"],
            head_importance_method=row["head_importance_method"],
            seconds=row["seconds"],
            logprob_max_diff=row["logprob_max_diff"],
            stored_bytes=row["stored_bytes"],
            per_head=arrays["per_head"],
            id=row["id"],
            created_at=row["created_at"],
            extra=json.loads(row["extra"]),
        )

    def get(self, attention_id: str) -> AttentionResult | None:
        row = self._row("t.id = ?", [attention_id])
        return self._from_row(row) if row else None

    def latest(self, record_id: str) -> AttentionResult | None:
        """The most recent analysis of ``record_id`` (full record id) in the log's order, or None."""
        row = self._row("t.record_id = ?", [record_id])
        return self._from_row(row) if row else None

    def count(self, record_id: str | None = None) -> int:
        if record_id is None:
            return super().count()
        if not self.exists():
            return 0
        return int(self.db.execute(f"SELECT COUNT(*) FROM {TABLE} WHERE record_id = ?", [record_id]).fetchone()[0])
