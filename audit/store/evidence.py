"""Evidence repositories: each owns one table of the audit record and that table's event.

A repository's ``append`` writes the row and logs its event in one transaction, with a payload
that is the row's full content (arrays by their blob SHA-256), so no caller ever composes an
event and no row is stored without one. ``payload`` rebuilds that payload from the table, which
is how verification compares what the tables say now with what was logged then. Which row is
the *latest* of a record follows the order of the hash chain (the event's ``seq``), never a
column of the table itself: a table column is not covered by the chain.

Verification (:mod:`audit.integrity.verify`) checks every repository in ``AuditStore.evidence``
the same way, both ways, so a new evidence table is covered by registering its repository:

* every event of the repository's kind has its row (:meth:`payload`), equal to what was logged;
* every row (:meth:`ids`) has exactly one event;
* rows sit in the order of their events, the n-th event's row at rowid n (:meth:`positions`),
  so an edited ``seq`` column or a row moved between records is found;
* every blob a payload references (:meth:`blob_digests`) is stored and hashes to its key.

Erasure (crypto-shredding) destroys keys, never rows: an erased record's rows stay, so an
event whose row is missing is a tampering even when an erasure tombstone names its record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from json.encoder import encode_basestring
from typing import Any, ClassVar

import sqlite_utils

from ..errors import UserError
from ..ids import AMBIGUOUS_SHOWN, ID_PREFIX, AmbiguousId, assign_identity, normalise_id
from ..integrity.canonical import canonical_scalar
from .database import atomic
from .events import TABLE as EVENTS
from .events import EventLog


def id_prefix(value: str, what: str, hint: str) -> tuple[str, list[Any]]:
    """A WHERE clause matching ids that start with ``value`` (8+ hex digits and dashes), never a LIKE pattern.

    ``%`` and ``_`` would be LIKE wildcards and match the middle of ids; anything but hex digits
    and dashes cannot start an id, so it is refused with the usual "no such id" message.
    """
    if not isinstance(value, str) or not ID_PREFIX.match(normalise_id(value)):
        raise UserError(f"no {what} with id {value!r} in this database (ids are hex digits and dashes): {hint}")
    value = normalise_id(value)
    return "substr(id, 1, ?) = ?", [len(value), value]


def row_by_id(db: sqlite_utils.Database, table: str, value: str, what: str, hint: str) -> dict[str, Any]:
    """The one row ``value`` names: its id in either case, or a prefix of 8+ characters that starts exactly one id.

    A prefix that starts several ids is refused naming them (a user who typed 8 characters of an id
    must learn it was not enough, not that nothing is stored); nothing found says so.
    """
    exists = db[table].exists()
    exact = normalise_id(value) if isinstance(value, str) else value
    rows = list(db.query(f"SELECT * FROM {table} WHERE id = ?", [exact])) if exists else []
    if rows:
        return rows[0]
    where, params = id_prefix(value, what, hint)
    query = f"SELECT * FROM {table} WHERE {where} ORDER BY rowid LIMIT {AMBIGUOUS_SHOWN + 1}"
    matches = list(db.query(query, params)) if exists else []
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise UserError(f"no {what} with id {value!r} in this database: {hint}")
    count = f"more than {AMBIGUOUS_SHOWN}" if len(matches) > AMBIGUOUS_SHOWN else str(len(matches))
    named = ", ".join(row["id"] for row in matches[:AMBIGUOUS_SHOWN])
    raise AmbiguousId(f"id prefix {value!r} is ambiguous: it starts {count} {what} ids ({named}): give more characters")


class CanonicalRow:
    """Builds a logged payload's canonical (RFC 8785) text straight from a row, by concatenation.

    For tables whose JSON columns are stored in canonical form: each member is ``"name":value``
    with the column's text as is (JSON columns), a scalar encoded by :func:`canonical_scalar`,
    or a ``special`` conversion; members sorted by name (ASCII column names sort as JCS does).
    The plan is made once per column list, so a row costs one join, no parsing.
    """

    def __init__(
        self,
        names: list[str],
        json_columns: tuple[str, ...],
        special: dict[str, Callable[[Any], str]] | None = None,
        skip: tuple[str, ...] = (),
        omit_null: tuple[str, ...] = (),
    ) -> None:
        special = special or {}
        members = sorted((name, i) for i, name in enumerate(names) if name not in skip)
        self.plan = [
            (i, encode_basestring(name) + ":", special.get(name) or (name in json_columns), name in omit_null)
            for name, i in members
        ]

    def text(self, values: tuple[Any, ...]) -> str:
        """``omit_null`` members (columns added later) are left out when NULL, as their payloads left them out."""
        parts = []
        append = parts.append
        separator = "{"
        for i, key, convert, omit in self.plan:
            value = values[i]
            if value is None and omit:
                continue
            append(separator)
            separator = ","
            append(key)  # the large JSON columns are appended as they are: one copy, in the final join
            if value is None:
                append("null")
            elif convert is True:
                append(value)
            elif convert is False:
                append(encode_basestring(value) if type(value) is str else canonical_scalar(value))
            else:
                append(convert(value))
        append("}" if separator == "," else "{}")
        return "".join(parts)


class EvidenceRepository:
    """The shared part of every evidence table: its event kind, chain-ordered reads, its ids."""

    kind: ClassVar[str]  # the event kind logged with each row
    table: ClassVar[str]
    # Payload fields held by a column of another name ("blobs.rollout" -> "rollout_sha256"), for naming it.
    columns_of_fields: ClassVar[dict[str, str]] = {}

    def __init__(self, db: sqlite_utils.Database, events: EventLog) -> None:
        self.db = db
        self.events = events

    def exists(self) -> bool:
        return self.db[self.table].exists()

    def _append(self, subject_id: str, insert_row: Any, payload: dict[str, Any]) -> int:
        """Run ``insert_row()`` and log ``payload`` under ``subject_id`` in one transaction; the event's seq."""
        with atomic(self.db.conn):
            insert_row()
            return self.events.append(self.kind, subject_id, payload)

    def _append_row(self, subject_id: str, row: dict[str, Any], payload: dict[str, Any]) -> int:
        """Insert ``row`` and log ``payload`` in one transaction; the event's seq."""
        return self._append(subject_id, lambda: self._insert(row), payload)

    def _insert(self, row: dict[str, Any]) -> int:
        """Insert one row (column -> value) into this table; its rowid."""
        insert = f"INSERT INTO {self.table} ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})"
        return int(self.db.execute(insert, list(row.values())).lastrowid)

    def payload(self, subject_id: str) -> dict[str, Any]:
        """The logged payload rebuilt from the table; ``KeyError`` when the row is missing."""
        raise NotImplementedError

    def payload_text(self, subject_id: str) -> str | None:
        """The payload's canonical text straight from canonical columns, or None (then :meth:`payload` decides)."""
        return None

    def payload_texts(self) -> Iterator[tuple[str, str]] | None:
        """(id, :meth:`payload_text`) of every row in table order, in one pass, or None where there is no fast text.

        Rows are in the order of their events, so verification walks this beside the log instead
        of looking each row up; where the two fall out of step it looks rows up by id.
        """
        return None

    def ids(self) -> Iterator[str]:
        """Every row that must have an event, by id, in table order (verification matches them with the log)."""
        if not self.exists():
            return iter(())
        return (str(row[0]) for row in self.db.execute(f"SELECT id FROM {self.table} ORDER BY rowid"))

    def positions(self) -> Iterator[tuple[str, int]] | None:
        """(id, rowid) of every row: the n-th event of this kind must have its row at rowid n.

        Rows are appended in the same transaction as their events, so the table's own order
        (its ``seq`` column, which is the rowid) mirrors the chain. None: a table whose rowids
        say nothing (override where rows are not one per event).
        """
        if not self.exists():
            return iter(())
        return (
            (str(row[0]), int(row[1])) for row in self.db.execute(f"SELECT id, rowid FROM {self.table} ORDER BY rowid")
        )

    def blob_digests(self, payload: dict[str, Any]) -> list[str]:
        """The SHA-256 keys of the blobs a logged payload references (verification checks each is stored intact)."""
        return []

    def blob_digests_text(self, payload_text: str) -> list[str] | None:
        """:meth:`blob_digests` read from the canonical payload text without parsing it, or None (then it is parsed)."""
        return None

    def subjects_of(self, record_id: str) -> list[str]:
        """Ids of this table's rows about ``record_id`` (tables with a ``record_id`` column), in table order."""
        if not self.exists() or "record_id" not in self.db[self.table].columns_dict:
            return []
        return [
            row[0]
            for row in self.db.execute(f"SELECT id FROM {self.table} WHERE record_id = ? ORDER BY rowid", [record_id])
        ]

    def count(self) -> int:
        return int(self.db.execute(f"SELECT COUNT(*) FROM {self.table}").fetchone()[0]) if self.exists() else 0

    def _chain_ordered(
        self, where: str = "", params: list[Any] | None = None, *, newest_first: bool = False, limit: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Rows with their logged event, in the order of the hash chain (rows without an event are not evidence)."""
        if not self.exists():
            return iter(())
        sql = (
            f"SELECT t.* FROM {self.table} t JOIN {EVENTS} e ON e.subject_id = t.id AND e.kind = ?"
            + (f" WHERE {where}" if where else "")
            + f" ORDER BY e.seq {'DESC' if newest_first else 'ASC'}"
            + (f" LIMIT {int(limit)}" if limit is not None else "")
        )
        return self.db.query(sql, [self.kind, *(params or [])])


__all__ = ["CanonicalRow", "EvidenceRepository", "assign_identity", "id_prefix"]
