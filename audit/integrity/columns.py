"""Column checks of ``verify``: stored JSON in its one encoding, and every derived column against its source.

:mod:`audit.store.coverage` declares, for every evidence table, which columns hold JSON (and in
which encoding) and which are derived from the logged payload. ``verify`` compares each row's
payload with its event; these checks add what that comparison cannot see:

* ``stored-json``: a JSON text must be exactly its encoding of the one value it parses to, so a
  duplicate key, a lone surrogate, non-JSON text or another spelling of the same value is named
  with its table, column and row (a second reader could read another value from it);
* ``derived``: a derived column (a generation's model name and weights column, a document's
  ``record_id`` and time, a blob's dtype, shape and size) must equal what it is derived from.

Both read the database through the store's connection and never write it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import sqlite_utils

from ..store.coverage import SKIP, derived_values, json_texts
from .canonical_check import check_text


@dataclass(frozen=True)
class ColumnProblem:
    check: str  # "stored-json" | "derived"
    table: str
    column: str
    row_id: str
    what: str

    def __str__(self) -> str:
        return f"table {self.table} row {self.row_id} column {self.column} {self.what}"


def json_problems(db: sqlite_utils.Database, table: str, row_id: str | None = None) -> Iterator[ColumnProblem]:
    """Every JSON column of ``table`` (of one row, or all) not in its one encoding."""
    for found_id, column, text, encoding in json_texts(db, table, row_id):
        _value, problem = check_text(text, encoding)
        if problem is not None:
            yield ColumnProblem("stored-json", table, column, found_id, problem)


def derived_problems(db: sqlite_utils.Database, table: str) -> Iterator[ColumnProblem]:
    """Every derived column of ``table`` whose value differs from what it is derived from."""
    for found_id, column, stored, expected, rule in derived_values(db, table):
        if expected is not SKIP and stored != expected:
            yield ColumnProblem(
                "derived",
                table,
                column,
                found_id,
                f"is {str(stored)[:40]!r}, but it is derived from {rule.rule}, which gives {str(expected)[:40]!r} "
                "(a column outside the logged payload was edited)",
            )


__all__ = ["ColumnProblem", "derived_problems", "json_problems"]
