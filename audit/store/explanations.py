"""The ``explanations`` table: one row per stored attribution, linked to its generation record.

The two attribution arrays live in :mod:`audit.store.blobs` (compressed ``.npy`` with dtype and
shape, keyed by SHA-256); the row keeps the keys, the labels and every parameter, so a report can be
rebuilt later without recomputing and reloads bit-identical.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import sqlite_utils

from ..attribution.result import AttributionResult
from ..integrity.canonical import strict_canonical
from ..integrity.canonical_check import read_json
from .append_only import append_only
from .blobs import BlobRepository
from .database import atomic
from .events import EventLog
from .evidence import CanonicalRow, EvidenceRepository, assign_identity, row_by_id
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
register("explanations", 2, "append-only guard on explanations", *append_only(TABLE))

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
    """A JSON column's text: RFC 8785 canonical (so :meth:`ExplanationRepository.payload_text` rebuilds the
    logged payload by concatenation), plain sorted JSON for the rare value JCS cannot write (NaN)."""
    if value is None:
        return None
    return strict_canonical(value) or json.dumps(value, ensure_ascii=False, sort_keys=True, allow_nan=True)


_BLOB_COLUMNS = ("token_attr_sha256", "seq_attr_sha256")
_PLAN = CanonicalRow(list(_COLUMNS), _JSON)
_BLOB_TEXT = re.compile(r'"(?:token_attr_sha256|seq_attr_sha256)":"([0-9a-f]{64})"')


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    data = {column: row[column] for column in _COLUMNS}
    for column in _JSON:
        data[column] = read_json(data[column], f"{TABLE}.{column} of explanation {data['id']}")
    return data


def _targets(row: dict[str, Any], target: str | None, contrast: str | None) -> bool:
    """Whether the explanation in ``row`` has this target (``decision`` or ``output``) and contrast label."""
    aim = (read_json(row["params"], f"{TABLE}.params of explanation {row['id']}") or {}).get("target")
    kind = aim.get("kind") if isinstance(aim, dict) else None
    if target == "decision" and kind != "decision":
        return False
    if target == "output" and kind is not None:
        return False
    return contrast is None or (isinstance(aim, dict) and aim.get("contrast") == contrast)


class ExplanationRepository(EvidenceRepository):
    """Append and read explanations: the ``explanations`` table (arrays in blobs) and its ``explanation`` events."""

    kind = "explanation"
    table = TABLE

    def __init__(self, db: sqlite_utils.Database, events: EventLog, blobs: BlobRepository) -> None:
        super().__init__(db, events)
        self.blobs = blobs

    def append(self, result: AttributionResult) -> int:
        """Store ``result`` (its id and time assigned here when unset) and log its event; returns the event's seq."""
        assign_identity(result)
        with atomic(self.db.conn):
            row = _row(result, self.blobs.put(result.token_attr), self.blobs.put(result.seq_attr))
            stored = {c: (_dumps(row[c]) if c in _JSON else row[c]) for c in _COLUMNS}
            return self._append_row(result.id, stored, explanation_payload(row))

    def blob_digests(self, payload: dict[str, Any]) -> list[str]:
        return [payload[c] for c in _BLOB_COLUMNS if isinstance(payload.get(c), str)]

    def blob_digests_text(self, payload_text: str) -> list[str]:
        """The same from the canonical text, without parsing it (the keys are unique in the payload)."""
        return _BLOB_TEXT.findall(payload_text)

    def payload_text(self, subject_id: str) -> str | None:
        """The logged payload's canonical text, concatenated from the row (JSON columns stored canonically)."""
        values = self.db.execute(f"SELECT {', '.join(_COLUMNS)} FROM {TABLE} WHERE id = ?", [subject_id]).fetchone()
        if values is None:
            raise KeyError(subject_id)
        return _PLAN.text(values)

    def payload_texts(self) -> Iterator[tuple[str, str]] | None:
        if not self.exists():
            return iter(())
        cursor = self.db.execute(f"SELECT {', '.join(_COLUMNS)} FROM {TABLE} ORDER BY rowid")
        return ((values[0], _PLAN.text(values)) for values in cursor)

    def payload(self, subject_id: str) -> dict[str, Any]:
        rows = list(self.db.query(f"SELECT * FROM {TABLE} WHERE id = ?", [subject_id]))
        if not rows:
            raise KeyError(subject_id)
        return explanation_payload(_decode(rows[0]))

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
        """One explanation by id (either case) or an unambiguous prefix of 8+ characters (:func:`row_by_id`)."""
        hint = "run `llm-audit explain RECORD_ID` first"
        return self._result(row_by_id(self.db, TABLE, explanation_id, "explanation", hint))

    def iter(
        self,
        record_id: str | None = None,
        *,
        method: str | None = None,
        granularity: str | None = None,
        target: str | None = None,
        contrast: str | None = None,
        newest_first: bool = False,
    ) -> Iterator[AttributionResult]:
        """``target``: ``decision`` or ``output`` (what every explanation stored before decisions is);
        ``contrast``: of a decision target, the label it was contrasted with."""
        clauses, params = [], []
        for column, value in (("record_id", record_id), ("method", method), ("granularity", granularity)):
            if value is not None:
                clauses.append(f"t.{column} = ?")
                params.append(value)
        rows = self._chain_ordered(" AND ".join(clauses), params, newest_first=newest_first)
        if target is None and contrast is None:
            return (self._result(row) for row in rows)
        # The target lives in the stored parameters (a text for output targets, an object for decisions), read
        # through the one reader (never json_extract, which reads a duplicate "target" as another value).
        return (self._result(row) for row in rows if _targets(row, target, contrast))

    def list(
        self,
        record_id: str | None = None,
        *,
        method: str | None = None,
        granularity: str | None = None,
        target: str | None = None,
    ) -> list[AttributionResult]:
        """Every stored explanation (of one record, method, granularity, target), oldest first."""
        return list(self.iter(record_id, method=method, granularity=granularity, target=target))

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
        return [
            (row[0], read_json(row[1], f"{TABLE}.params")) for row in self.db.execute(sql + " ORDER BY rowid", args)
        ]

    def latest(
        self,
        record_id: str,
        method: str | None = None,
        granularity: str | None = None,
        *,
        target: str | None = None,
        contrast: str | None = None,
    ) -> AttributionResult | None:
        """The newest explanation of ``record_id`` (optionally of one method, granularity, target, contrast)."""
        found = self.iter(
            record_id, method=method, granularity=granularity, target=target, contrast=contrast, newest_first=True
        )
        return next(found, None)
