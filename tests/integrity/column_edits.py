"""Attacker-style edits of every column of every evidence table, generated from the schema (no list of columns).

For each table, ``PRAGMA table_info`` names the columns; for each column a row is picked (one where it is not NULL,
when there is one) and its value replaced by another value of the same type that looks valid: another id or hash of
the same form, a shifted time, a changed number, a JSON document with one value changed. The guard triggers are
dropped first, as an administrator with a SQLite shell can.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.forge import drop_guards

_HEX = re.compile(r"[0-9a-f]{8,}\Z")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT")


@dataclass(frozen=True)
class Edit:
    table: str
    column: str
    rowid: int
    old: Any
    new: Any

    def __str__(self) -> str:
        return f"{self.table}.{self.column} (rowid {self.rowid}): {self.old!r:.60} -> {self.new!r:.60}"


def _other_hex(value: str) -> str:
    return value[:-1] + ("0" if value[-1] != "0" else "1")


def _edit_json(value: Any) -> Any:
    """The document with one leaf changed (the first one found, depth first), still valid JSON of the same shape."""
    if isinstance(value, dict):
        if not value:
            return {"note": "added"}
        key = sorted(value)[0]
        return {**value, key: _edit_json(value[key])}
    if isinstance(value, list):
        return [_edit_json(value[0]), *value[1:]] if value else [0]
    return _changed(value, None)


def _changed(value: Any, others: list[Any] | None) -> Any:
    """Another value of the same type that looks as valid (``others``: the column's values in other rows)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1 if value not in (0, 1) else 1 - value
    if isinstance(value, float):
        return value * 2 + 0.5
    if isinstance(value, bytes):
        return bytes([value[0] ^ 1]) + value[1:]
    if isinstance(value, str):
        for other in others or []:
            if isinstance(other, str) and other != value and (_UUID.match(value) and _UUID.match(other)):
                return other  # moved to another row's id: the attack on record_id
        if _UUID.match(value) or _HEX.match(value):
            return _other_hex(value)
        if _TIME.match(value):
            return value.replace(value[:4], str(int(value[:4]) - 1), 1)
        if value[:1] in "[{":
            try:
                parsed = json.loads(value)
            except ValueError:
                parsed = None
            if isinstance(parsed, dict | list):
                return json.dumps(_edit_json(parsed), ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        return value + "x" if value else "x"
    return "x"  # a NULL becomes a string


def _check_values(conn: sqlite3.Connection, table: str, column: str) -> list[str]:
    """The values a ``CHECK (column IN (...))`` of the table allows (an attacker picks another allowed one)."""
    sql = conn.execute("SELECT sql FROM sqlite_master WHERE type='table' AND name=?", [table]).fetchone()[0]
    found = re.search(rf"\b{column}\s+IN\s*\(([^)]*)\)", sql)
    return re.findall(r"'([^']*)'", found.group(1)) if found else []


def edits(db: Path, tables: list[str]) -> Iterator[Edit]:
    """One edit per column of every table in ``tables`` (read from the schema)."""
    conn = sqlite3.connect(db)
    try:
        for table in tables:
            columns = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
            for column in columns:
                rows = conn.execute(f"SELECT rowid, {column} FROM {table} ORDER BY {column} IS NULL, rowid").fetchall()
                if not rows:
                    continue
                rowid, old = rows[0]
                others: list[Any] = []
                if column.endswith("_id") or column.endswith("_ids"):  # a reference: moved to another row's id
                    others = [value for _, value in rows[1:]]
                    others += [r[0] for r in conn.execute("SELECT id FROM generations ORDER BY rowid")]
                allowed = _check_values(conn, table, column)
                new = next((v for v in allowed if v != old), None) if allowed else _changed(old, others)
                if column in {"seq", "id"} and isinstance(old, int):
                    new = int(conn.execute(f"SELECT max({column}) FROM {table}").fetchone()[0]) + 100
                yield Edit(table, column, rowid, old, new)
    finally:
        conn.close()


def apply(db: Path, edit: Edit) -> bool:
    """Make ``edit``; False when the table's own constraints refuse it (a CHECK or UNIQUE, nothing to detect)."""
    conn = sqlite3.connect(db)
    try:
        drop_guards(conn)
        conn.execute(f"UPDATE {edit.table} SET {edit.column} = ? WHERE rowid = ?", [edit.new, edit.rowid])
        conn.commit()
        return True
    except sqlite3.IntegrityError:
        return False
    finally:
        conn.close()
