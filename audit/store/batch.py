"""Appending many records in one transaction, and probing the write lock: what a long-lived writer needs.

The server's and proxy's writer (:mod:`audit.serve.group_commit`) stores every record waiting in one
``BEGIN IMMEDIATE`` ... ``COMMIT`` (one fsync for them all) with at most one automatic checkpoint, at
the end. Each record sits in a savepoint of its own, so a record that fails by itself is rolled back
alone; a failure of the database itself (full disk, lock, I/O) aborts the whole batch.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    from ..record import GenerationRecord
    from . import AuditStore


def append_batch(
    store: AuditStore, records: list[GenerationRecord], failed: Callable[[int, Exception], None]
) -> list[str | None]:
    """Append ``records`` in one transaction; each one's payload SHA-256, or None where ``failed(i, exc)`` was
    told that record ``i`` alone could not be stored. ``sqlite3.OperationalError`` and ``OSError`` (the
    database itself) propagate, with nothing of the batch stored."""
    conn = store.db.conn
    hashes: list[str | None] = []
    with store.transaction():
        last = 0
        for n, record in enumerate(records):
            conn.execute(f"SAVEPOINT record_{n}")
            try:
                seq = store.records.append(record)
            except (sqlite3.OperationalError, OSError):
                raise
            except Exception as exc:  # noqa: BLE001 - this record only: rolled back, reported, the batch goes on
                conn.execute(f"ROLLBACK TO record_{n}")
                conn.execute(f"RELEASE record_{n}")
                failed(n, exc)
                hashes.append(None)
                continue
            conn.execute(f"RELEASE record_{n}")
            last = seq
            appended = store.events.last_appended
            hashes.append(
                appended.payload_sha256 if appended and appended.seq == seq else store.events.at(seq).payload_sha256
            )
        if last:
            store.checkpoints.sign_if_due(last)  # one checkpoint for the batch, by the usual rule
    return hashes


def lock_held(path: Path, wait: float) -> tuple[bool, float] | sqlite3.Error:
    """Whether another connection holds ``path``'s write lock, found by taking it (``BEGIN IMMEDIATE``, then
    ``ROLLBACK``: nothing is written) within ``wait`` seconds; (held, seconds waited), or the error met."""
    try:
        conn = sqlite3.connect(
            f"file:{quote(str(path.resolve()))}?mode=rw", uri=True, isolation_level=None, timeout=wait
        )
    except sqlite3.Error as exc:
        return exc
    started = time.monotonic()
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
    except sqlite3.Error as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return True, time.monotonic() - started
        return exc
    finally:
        conn.close()
    return False, time.monotonic() - started
