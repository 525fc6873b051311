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

from ..errors import UserError
from ..store.coverage import SKIP, Coverage, coverage_of
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


def _key(table: str) -> str:
    return "sha256" if table == "blobs" else "id"


def json_problems(
    db: sqlite_utils.Database, table: str, row_id: str | None = None, columns: tuple[str, ...] | None = None
) -> Iterator[ColumnProblem]:
    """Every JSON column of ``table`` (of one row, or all; of ``columns``, or all declared) not in its one encoding."""
    coverage = coverage_of(table)
    present = db[table].columns_dict if db[table].exists() else {}
    wanted = [c for c in (columns or tuple(coverage.json)) if c in present and c in coverage.json]
    if not wanted:
        return
    key = _key(table)
    sql = f"SELECT {key}, {', '.join(wanted)} FROM {table}"
    rows = db.execute(sql + f" WHERE {key} = ?", [row_id]) if row_id is not None else db.execute(sql)
    for found_id, *texts in rows:
        for column, text in zip(wanted, texts):
            if text is None:
                continue
            _value, problem = check_text(text, coverage.json[column])
            if problem is not None:
                yield ColumnProblem("stored-json", table, column, str(found_id), problem)


def derived_problems(
    db: sqlite_utils.Database, table: str, coverage: Coverage | None = None
) -> Iterator[ColumnProblem]:
    """Every derived column of ``table`` whose value differs from what it is derived from."""
    coverage = coverage or coverage_of(table)
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
            except (UserError, ValueError, KeyError, TypeError, AttributeError):
                continue  # the source itself is malformed: its own check names it
            if expected is not SKIP and values[column] != expected:
                yield ColumnProblem(
                    "derived",
                    table,
                    column,
                    str(values[key]),
                    f"is {str(values[column])[:40]!r}, but it is derived from {rule.rule}, which gives "
                    f"{str(expected)[:40]!r} (a column outside the logged payload was edited)",
                )


__all__ = ["ColumnProblem", "derived_problems", "json_problems"]
