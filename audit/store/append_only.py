"""Triggers that abort UPDATE and DELETE on a table: the append-only accident guard.

Anyone with write access to the file can drop them, so they protect against mistakes
(a stray ``UPDATE`` in a SQLite shell, a buggy migration), not against an attacker; the
hash chain is what detects deliberate edits. Every component whose rows are part of the
audit record adds them in its migration::

    register("explanations", 2, "append-only guard", *append_only("explanations"))
"""

from __future__ import annotations


def append_only(table: str) -> tuple[str, str]:
    """The two ``CREATE TRIGGER`` statements that make ``table`` append-only."""
    message = f"{table} is append-only: audit records cannot be changed or deleted"
    return tuple(  # type: ignore[return-value]
        f"CREATE TRIGGER IF NOT EXISTS {table}_append_only_{action.lower()} BEFORE {action} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
        for action in ("UPDATE", "DELETE")
    )
