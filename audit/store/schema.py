"""Versioned schema migrations, registered per component.

Each part of the store (records, blobs, explanations, attention, replays, reports, the
event log...) owns its tables and registers its own ordered migrations here, so adding a
component never edits another's schema. Applied versions are kept in
``llm_audit_migrations``; that table is also how a file is recognised as ours.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

MIGRATIONS_TABLE = "llm_audit_migrations"

Step = str | Callable[[sqlite3.Connection], None]


@dataclass(frozen=True)
class Migration:
    component: str
    version: int
    description: str
    steps: tuple[Step, ...]


_REGISTRY: dict[str, list[Migration]] = {}


def register(component: str, version: int, description: str, *steps: Step) -> None:
    """Declare migration ``version`` of ``component``; versions must be registered in order."""
    existing = _REGISTRY.setdefault(component, [])
    if existing and existing[-1].version >= version:
        raise ValueError(f"migration {component} v{version} registered out of order")
    existing.append(Migration(component, version, description, steps))


def all_migrations() -> list[Migration]:
    return [m for component in sorted(_REGISTRY) for m in _REGISTRY[component]]


def applied_versions(conn: sqlite3.Connection) -> dict[str, int]:
    rows = conn.execute(f"SELECT component, MAX(version) FROM {MIGRATIONS_TABLE} GROUP BY component").fetchall()
    return {component: version for component, version in rows}


def pending(conn: sqlite3.Connection) -> list[Migration]:
    exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (MIGRATIONS_TABLE,)).fetchone()
    done = applied_versions(conn) if exists else {}
    return [m for m in all_migrations() if m.version > done.get(m.component, 0)]


def apply_pending(conn: sqlite3.Connection, now: str) -> int:
    """Apply every pending migration in one transaction; returns how many ran."""
    todo = pending(conn)
    if not todo:
        return 0
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (component TEXT NOT NULL, version INTEGER NOT NULL, "
            "description TEXT NOT NULL, applied_at TEXT NOT NULL, PRIMARY KEY (component, version))"
        )
        for migration in pending(conn):  # re-read inside the lock: another process may have migrated
            for step in migration.steps:
                if callable(step):
                    step(conn)
                else:
                    conn.execute(step)
            conn.execute(
                f"INSERT INTO {MIGRATIONS_TABLE} (component, version, description, applied_at) VALUES (?, ?, ?, ?)",
                (migration.component, migration.version, migration.description, now),
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return len(todo)
