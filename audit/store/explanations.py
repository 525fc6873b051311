"""The ``explanations`` table: one row per stored attribution, linked to its generation record.

The two attribution arrays live in :mod:`audit.store.blobs` (compressed ``.npy`` with dtype and
shape, keyed by SHA-256); the row keeps the keys, the labels and every parameter, so a report can be
rebuilt later without recomputing and reloads bit-identical.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import sqlite_utils

from ..attribution.result import AttributionResult
from ..errors import UserError
from .blobs import BlobRepository
from .events import register_projection
from .schema import register

TABLE = "explanations"
_JSON = ("features", "output_tokens", "params", "convergence_delta", "extra")

register(
    "explanations",
    1,
    "explanations table (attribution arrays in blobs)",
    f"""CREATE TABLE {TABLE} (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        record_id TEXT NOT NULL REFERENCES generations (id),
        created_at TEXT NOT NULL,
        method TEXT NOT NULL,
        granularity TEXT NOT NULL,
        features TEXT NOT NULL,
        output_tokens TEXT NOT NULL,
        token_attr_sha256 TEXT NOT NULL REFERENCES blobs (sha256),
        seq_attr_sha256 TEXT NOT NULL REFERENCES blobs (sha256),
        params TEXT NOT NULL,
        seconds REAL NOT NULL,
        convergence_delta TEXT,
        logprob_max_diff REAL,
        extra TEXT NOT NULL
    )""",
    f"CREATE INDEX idx_{TABLE}_record ON {TABLE} (record_id, method, granularity)",
)

_COLUMNS = (
    "id",
    "record_id",
    "created_at",
    "method",
    "granularity",
    "features",
    "output_tokens",
    "token_attr_sha256",
    "seq_attr_sha256",
    "params",
    "seconds",
    "convergence_delta",
    "logprob_max_diff",
    "extra",
)


def explanation_payload(row: dict[str, Any]) -> dict[str, Any]:
    """The logged content of an explanation event: the stored row, arrays by blob SHA-256."""
    return {column: row[column] for column in _COLUMNS}


def _row(result: AttributionResult, token_sha: str, seq_sha: str) -> dict[str, Any]:
    return {
        "id": result.id,
        "record_id": result.record_id,
        "created_at": result.created_at,
        "method": result.method,
        "granularity": result.granularity,
        "features": list(result.features),
        "output_tokens": list(result.output_tokens),
        "token_attr_sha256": token_sha,
        "seq_attr_sha256": seq_sha,
        "params": dict(result.params),
        "seconds": float(result.seconds),
        "convergence_delta": None if result.convergence_delta is None else [float(d) for d in result.convergence_delta],
        "logprob_max_diff": None if result.logprob_max_diff is None else float(result.logprob_max_diff),
        "extra": dict(result.extra),
    }


def _dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True, allow_nan=True)


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    data = {column: row[column] for column in _COLUMNS}
    for column in _JSON:
        data[column] = json.loads(data[column]) if data[column] is not None else None
    return data


class ExplanationRepository:
    """Insert and read explanations; knows the ``explanations`` table and nothing else."""

    def __init__(self, db: sqlite_utils.Database, blobs: BlobRepository) -> None:
        self.db = db
        self.blobs = blobs

    def exists(self) -> bool:
        return self.db[TABLE].exists()

    def insert(self, result: AttributionResult) -> dict[str, Any]:
        """Store ``result`` (which must carry ``id`` and ``created_at``); returns the event payload."""
        if not result.id or not result.created_at:
            raise ValueError("an explanation needs an id and a creation time before it is stored")
        row = _row(result, self.blobs.put(result.token_attr), self.blobs.put(result.seq_attr))
        stored = {k: (_dumps(v) if k in _JSON else v) for k, v in row.items()}
        marks = ", ".join("?" for _ in _COLUMNS)
        self.db.execute(f"INSERT INTO {TABLE} ({', '.join(_COLUMNS)}) VALUES ({marks})", [stored[c] for c in _COLUMNS])
        return explanation_payload(row)

    def _result(self, row: dict[str, Any]) -> AttributionResult:
        data = _decode(row)
        return AttributionResult(
            record_id=data["record_id"],
            method=data["method"],
            granularity=data["granularity"],
            features=data["features"],
            output_tokens=data["output_tokens"],
            token_attr=self.blobs.get(data["token_attr_sha256"]),
            seq_attr=self.blobs.get(data["seq_attr_sha256"]),
            params=data["params"],
            seconds=data["seconds"],
            convergence_delta=data["convergence_delta"],
            logprob_max_diff=data["logprob_max_diff"],
            id=data["id"],
            created_at=data["created_at"],
            extra=data["extra"],
        )

    def get(self, explanation_id: str) -> AttributionResult:
        """One explanation by id (or an unambiguous prefix of 8+ characters)."""
        rows = list(self.db.query(f"SELECT * FROM {TABLE} WHERE id = ?", [explanation_id])) if self.exists() else []
        if not rows and self.exists() and len(explanation_id) >= 8:
            matches = list(self.db.query(f"SELECT * FROM {TABLE} WHERE id LIKE ? LIMIT 2", [explanation_id + "%"]))
            rows = matches if len(matches) == 1 else []
        if not rows:
            raise UserError(
                f"no explanation with id {explanation_id!r} in this database: run `llm-audit explain RECORD_ID` first"
            )
        return self._result(rows[0])

    def iter(
        self,
        record_id: str | None = None,
        *,
        method: str | None = None,
        granularity: str | None = None,
        newest_first: bool = False,
    ) -> Iterator[AttributionResult]:
        if not self.exists():
            return iter(())
        clauses, params = [], []
        for column, value in (("record_id", record_id), ("method", method), ("granularity", granularity)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        order = "DESC" if newest_first else "ASC"
        return (
            self._result(row) for row in self.db.query(f"SELECT * FROM {TABLE}{where} ORDER BY seq {order}", params)
        )

    def list(
        self, record_id: str | None = None, *, method: str | None = None, granularity: str | None = None
    ) -> list[AttributionResult]:
        """Every stored explanation (of one record, method, granularity), oldest first."""
        return list(self.iter(record_id, method=method, granularity=granularity))

    def params_of(
        self, method: str, granularity: str, record_id: str | None = None
    ) -> list[tuple[str, dict[str, Any]]]:
        """(record id, stored parameters) of each explanation of this method and granularity, arrays not loaded.

        What a batch run needs to tell which records are already explained (:mod:`audit.scale.pending`).
        """
        if not self.exists():
            return []
        sql = f"SELECT record_id, params FROM {TABLE} WHERE method = ? AND granularity = ?"
        args: list[Any] = [method, granularity]
        if record_id is not None:
            sql += " AND record_id = ?"
            args.append(record_id)
        return [(row[0], json.loads(row[1])) for row in self.db.execute(sql + " ORDER BY seq", args)]

    def latest(
        self, record_id: str, method: str | None = None, granularity: str | None = None
    ) -> AttributionResult | None:
        """The newest explanation of ``record_id`` (optionally of one method and granularity)."""
        return next(self.iter(record_id, method=method, granularity=granularity, newest_first=True), None)


def _project(db: sqlite_utils.Database, explanation_id: str) -> dict[str, Any]:
    row = next(db.query(f"SELECT * FROM {TABLE} WHERE id = ?", [explanation_id]))
    return explanation_payload(_decode(row))


register_projection("explanation", _project)
