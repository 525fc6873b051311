"""The ``generations`` table: one row per recorded generation, append-only.

Small arrays (token ids) are JSON columns so the record stays readable with any SQLite client;
in records version 3 the per-token log-probabilities and top-k alternatives are packed
(:mod:`audit.token_pack`, canonical JSON around base64); from version 4 they, the environment
and a proxy's statement of what it knows are blobs the row names by SHA-256
(:mod:`audit.store.record_refs`); large arrays belong in :mod:`audit.store.blobs`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields
from json.encoder import encode_basestring
from typing import Any

import sqlite_utils

from ..clock import normalise_time
from ..integrity.canonical import canonical_flat, fast_canonical, strict_canonical
from ..integrity.canonical_check import check_text, encode_json, read_json
from ..integrity.chain import CanonicalText
from ..record import PACKED_FROM, GenerationRecord
from ..token_pack import pack_logprobs, pack_top
from .append_only import append_only
from .blobs import Blob, BlobRepository
from .evidence import CanonicalRow, EvidenceRepository, row_by_id
from .record_refs import REFS_FROM, Resolver, by_reference, referenced, referenced_in_text
from .schema import register

TABLE = "generations"
RECORD_JSON_COLUMNS = (
    "variables",
    "messages",
    "input_ids",
    "output_ids",
    "token_logprobs",
    "top_logprobs",
    "generation_config",
    "model",
    "environment",
    "tags",
    "decision",
)

register(
    "records",
    1,
    "generations table",
    f"""CREATE TABLE {TABLE} (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        started_at TEXT NOT NULL,
        finished_at TEXT NOT NULL,
        duration_s REAL NOT NULL,
        use_case TEXT NOT NULL,
        operator TEXT NOT NULL,
        prompt_kind TEXT NOT NULL,
        prompt TEXT NOT NULL,
        template TEXT,
        variables TEXT,
        messages TEXT,
        system TEXT,
        add_special_tokens INTEGER NOT NULL,
        input_ids TEXT NOT NULL,
        output_ids TEXT NOT NULL,
        output_text TEXT NOT NULL,
        finish_reason TEXT NOT NULL,
        token_logprobs TEXT NOT NULL,
        top_logprobs TEXT NOT NULL,
        generation_config TEXT NOT NULL,
        seed INTEGER NOT NULL,
        model_name TEXT NOT NULL,
        weights_sha256 TEXT NOT NULL,
        model TEXT NOT NULL,
        environment TEXT NOT NULL,
        tags TEXT NOT NULL,
        schema_version INTEGER NOT NULL
    )""",
    f"CREATE INDEX idx_{TABLE}_use_case ON {TABLE} (use_case, started_at)",
    f"CREATE INDEX idx_{TABLE}_started ON {TABLE} (started_at)",
)
register("records", 2, "append-only guard on generations", *append_only(TABLE))
# Record schema 2: the decision scored at generation time (JSON, canonical; NULL for a record without one).
register("records", 3, "decision column on generations", f"ALTER TABLE {TABLE} ADD COLUMN decision TEXT")


def stored_form(record: GenerationRecord) -> tuple[dict[str, Any], list[Blob]]:
    """The record as stored, and the blobs stored with it: ``to_dict()``, with the token columns packed in records
    version 3 (:mod:`audit.token_pack`) and held by reference from version 4 (:mod:`.record_refs`); built field by
    field, since ``asdict`` over every alternative cost more than the write."""
    if record.schema_version < PACKED_FROM:
        return record.to_dict(), []
    data = {f.name: getattr(record, f.name) for f in fields(record)}
    data["model"] = record.model.to_dict()
    data["environment"] = record.environment.to_dict()
    data["decision"] = record.decision.to_dict() if record.decision is not None else None
    if record.schema_version >= REFS_FROM:
        return data, by_reference(record, data)
    data["token_logprobs"] = pack_logprobs(record.token_logprobs)
    data["top_logprobs"] = pack_top(record.top_logprobs)
    return data, []


def stored_dict(record: GenerationRecord) -> dict[str, Any]:
    """The record as stored (its row's values before JSON encoding; see :func:`stored_form`)."""
    return stored_form(record)[0]


def _to_row(record: GenerationRecord, data: dict[str, Any] | None = None) -> dict[str, Any]:
    return _row_texts(record, data if data is not None else stored_dict(record))[0]


def _row_texts(record: GenerationRecord, data: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The row to insert, and whether every canonical JSON column is in RFC 8785 form (not its plain fallback)."""
    row = dict(data)
    row.pop("seq")
    exact = True
    for column in RECORD_JSON_COLUMNS:
        value = row[column]
        if value is None or column in _ORDERED_COLUMNS:
            row[column] = _json_text(value, canonical=False)
            continue
        text = strict_canonical(value)
        exact = exact and text is not None
        row[column] = text if text is not None else _json_text(value)
    row["add_special_tokens"] = int(record.add_special_tokens)
    row["model_name"] = record.model.name
    row["weights_sha256"] = record.model.weights_text
    return row, exact


def _json_text(value: Any, canonical: bool = True) -> str | None:
    """A JSON column's text in its declared encoding (:mod:`audit.store.coverage`): canonical (RFC 8785) so
    verification can rebuild the logged payload by concatenation (:func:`_project_text`); plain JSON for the rare
    value JCS cannot write (a -inf log-probability), which verification then checks the slow way, and for the
    columns whose key order means something (:data:`_ORDERED_COLUMNS`)."""
    if value is None:
        return None
    return encode_json(value, "jcs" if canonical else "plain")


# Template variables keep the caller's order (it is the order of the fields in a field-level
# explanation); JCS would sort them. Verification canonicalises this small column instead.
_ORDERED_COLUMNS = ("variables",)
_NOT_IN_PAYLOAD = ("seq", "model_name", "weights_sha256")


# Columns left out of the logged payload when NULL: records written before the column existed logged
# no such key, and a later record without a decision logs none either, so both verify the same way.
_OMITTED_WHEN_NULL = ("decision",)


def generation_payload(record: GenerationRecord, data: dict[str, Any] | None = None) -> dict[str, Any]:
    """The logged content of a generation event: the whole record as stored except its store position (and
    except ``decision`` when there is none)."""
    payload = dict(data if data is not None else stored_dict(record))
    payload.pop("seq")
    for key in _OMITTED_WHEN_NULL:
        if payload.get(key) is None:
            payload.pop(key, None)
    return payload


def _project(db: sqlite_utils.Database, record_id: str) -> dict[str, Any]:
    """The payload straight from the row (what ``generation_payload(get(id))`` gives).

    Skips the dataclass round trip: ``asdict`` over thousands of top-k alternatives
    made verification of a large log 50x slower than reading it.
    """
    rows = list(db.query(f"SELECT * FROM {TABLE} WHERE id = ?", [record_id]))
    if not rows:
        raise KeyError(record_id)
    data = dict(rows[0])
    for column in _NOT_IN_PAYLOAD:
        data.pop(column)
    for column in _OMITTED_WHEN_NULL:
        if data.get(column) is None:
            data.pop(column, None)
    for column in RECORD_JSON_COLUMNS:
        if column in data:
            data[column] = read_json(data[column], f"{TABLE}.{column}")
    data["add_special_tokens"] = bool(data["add_special_tokens"])
    return data


def _ordered(value: str) -> str:
    """The ``variables`` column (kept in the caller's order) in canonical form; a text that is not exactly its
    writer's form of one value (a duplicate key, say) is returned as it is, so it never matches the logged payload."""
    parsed, problem = check_text(value, "plain")
    if problem is not None:
        return value
    return canonical_flat(parsed) or strict_canonical(parsed) or value


def _flag(value: Any) -> str:
    """A 0/1 column as JSON; anything else (a 2 is truthy too) as itself, so it does not match."""
    return {0: "false", 1: "true"}.get(value, repr(value)) if type(value) is int else repr(value)


_SPECIAL = {"variables": _ordered, "add_special_tokens": _flag}


def _text_plan(names: list[str]) -> CanonicalRow:
    """How the payload's canonical text is concatenated from the row's columns.

    The JSON columns already hold canonical text (the small ``variables`` object is
    canonicalised here) and scalars encode in microseconds, so a record verifies without
    parsing its large columns: 100,000 records in seconds instead of minutes.
    """
    return CanonicalRow(names, RECORD_JSON_COLUMNS, _SPECIAL, _NOT_IN_PAYLOAD, _OMITTED_WHEN_NULL)


def payload_text(row: dict[str, Any], variables: Any) -> str | None:
    """The logged payload's RFC 8785 text, joined from a row whose canonical JSON columns are all in RFC 8785 form
    (:func:`_row_texts`): what verification rebuilds with :class:`CanonicalRow` too. None where a value needs the
    reference encoder (then the payload is encoded whole). ``variables`` (the column keeps the caller's order) is
    canonicalised here from its value."""
    members = []
    for name in sorted(row):  # ASCII column names: code-point order is JCS's order
        value = row[name]
        if name in _NOT_IN_PAYLOAD or (value is None and name in _OMITTED_WHEN_NULL):
            continue
        if name == "add_special_tokens":
            text = "true" if value else "false"
        elif name == "variables":
            text = strict_canonical(variables)
        elif name in RECORD_JSON_COLUMNS and value is not None:
            text = value
        else:
            text = fast_canonical(value)
        if text is None:
            return None
        members.append(encode_basestring(name) + ":" + text)
    return "{" + ",".join(members) + "}"


def _from_row(row: dict[str, Any], resolver: Resolver) -> GenerationRecord:
    data = dict(row)
    data.pop("model_name", None)
    data.pop("weights_sha256", None)
    for column in RECORD_JSON_COLUMNS:
        if column in data:
            data[column] = read_json(data[column], f"{TABLE}.{column} of record {data.get('id')}")
    data["add_special_tokens"] = bool(data["add_special_tokens"])
    resolver.resolve(data)
    return GenerationRecord.from_dict(data)


class RecordRepository(EvidenceRepository):
    """Append and read generation records: the ``generations`` table and its ``generation`` events."""

    kind = "generation"
    table = TABLE

    def append(self, record: GenerationRecord) -> int:
        """Store ``record`` and log its event; sets ``record.seq`` (its row, 1-based, gap-free) and returns the event's seq."""
        data, blobs = stored_form(record)
        row, exact = _row_texts(record, data)
        text = payload_text(row, data.get("variables")) if exact else None
        payload = CanonicalText(text) if text is not None else generation_payload(record, data)
        return self._append(record.id, lambda: self._insert_stored(record, row, blobs), payload)

    def _insert_stored(self, record: GenerationRecord, row: dict[str, Any], blobs: list[Blob]) -> int:
        store = BlobRepository(self.db)
        for blob in blobs:
            store.put_blob(blob)
        record.seq = self._insert(row)
        return record.seq

    def _insert_row(
        self, record: GenerationRecord, data: dict[str, Any] | None = None, blobs: list[Blob] | None = None
    ) -> int:
        """The row (and its blobs) alone, without its event: for :meth:`append`, and for tests that forge what an
        attacker would."""
        if data is None:
            data, blobs = stored_form(record)
        return self._insert_stored(record, _to_row(record, data), blobs or [])

    def _resolver(self) -> Resolver:
        return Resolver(BlobRepository(self.db))

    def blob_digests(self, payload: dict[str, Any]) -> list[str]:
        return referenced(payload)

    def blob_digests_text(self, payload_text: str) -> list[str] | None:
        return referenced_in_text(payload_text)

    def payload(self, subject_id: str) -> dict[str, Any]:
        return _project(self.db, subject_id)

    def payload_text(self, subject_id: str) -> str | None:
        cursor = self.db.execute(f"SELECT * FROM {TABLE} WHERE id = ?", [subject_id])
        values = cursor.fetchone()
        if values is None:
            raise KeyError(subject_id)
        return _text_plan([d[0] for d in cursor.description]).text(values)

    def payload_texts(self) -> Iterator[tuple[str, str]] | None:
        if not self.exists():
            return iter(())
        cursor = self.db.execute(f"SELECT * FROM {TABLE} ORDER BY rowid")
        names = [d[0] for d in cursor.description]
        plan, at = _text_plan(names), names.index("id")
        return ((values[at], plan.text(values)) for values in cursor)

    def get(self, record_id: str) -> GenerationRecord:
        """The record ``record_id`` names: its id (either case) or an unambiguous prefix (:func:`row_by_id`)."""
        return _from_row(
            row_by_id(self.db, TABLE, record_id, "record", "run `llm-audit list` to see the ids"), self._resolver()
        )

    def iter(
        self,
        *,
        use_case: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> Iterator[GenerationRecord]:
        if not self.exists():
            return iter(())
        where, params = self._where(use_case, since, until)
        order = "DESC" if newest_first else "ASC"
        sql = f"SELECT * FROM {TABLE}{where} ORDER BY seq {order}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        resolver = self._resolver()
        return (_from_row(row, resolver) for row in self.db.query(sql, params))

    def after(self, seq: int, limit: int = 256) -> list[GenerationRecord]:
        """Records stored after position ``seq``, oldest first, at most ``limit`` (a follower's next batch)."""
        if not self.exists():
            return []
        rows = self.db.query(f"SELECT * FROM {TABLE} WHERE seq > ? ORDER BY seq LIMIT ?", [seq, int(limit)])
        resolver = self._resolver()
        return [_from_row(row, resolver) for row in rows]

    def count(self, *, use_case: str | None = None, since: str | None = None, until: str | None = None) -> int:
        if not self.exists():
            return 0
        where, params = self._where(use_case, since, until)
        return int(self.db.execute(f"SELECT COUNT(*) FROM {TABLE}{where}", params).fetchone()[0])

    @staticmethod
    def _where(use_case: str | None, since: str | None, until: str | None) -> tuple[str, list[Any]]:
        """``since``/``until``: ISO dates or times as a user writes them (UTC when naive), refused if not."""
        since = normalise_time(since, "--since", store_format=True)
        until = normalise_time(until, "--until", store_format=True)
        clauses, params = [], []
        if use_case:
            clauses.append("use_case = ?")
            params.append(use_case)
        if since:
            clauses.append("started_at >= ?")
            params.append(since)
        if until:
            clauses.append("started_at < ?")
            params.append(until)
        return ((" WHERE " + " AND ".join(clauses)) if clauses else ""), params
