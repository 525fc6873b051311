"""API-key authentication of ``serve`` and ``proxy`` over one long-lived read-only connection.

Opening the database for every request (file checks, schema check, connection) cost more than the
rest of the request's key check, and under a full disk a fresh open could fail where reading cannot:
every request then answered 500. One read-only connection (WAL: it sees each key added or revoked
by another process from the next request on) serves every check, on a worker thread, so the event
loop never waits on the database. A database that cannot be read answers 503 naming the cause
(a full disk as a full disk), never 500, and the connection is opened again on the next request.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from ..credentials import PREFIX, key_sha256
from ..errors import UserError
from ..store import AuditStore
from ..store.database import describe_write_error
from .errors import ApiError
from .writable import public_reason, unwritable_reason


class KeyCheck:
    """``holder(key)``: the name of the key in force, or None (unknown or revoked)."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self._store: AuditStore | None = None
        self._lock = threading.Lock()

    def holder(self, key: str) -> str | None:
        if not key.startswith(PREFIX):
            return None
        with self._lock:
            try:
                if self._store is None:
                    self._store = AuditStore.open(self.db_path)
                return self._store.api_keys.holder(key_sha256(key))
            except (sqlite3.Error, OSError) as exc:
                self.close()
                reason = unwritable_reason(self.db_path) or describe_write_error(exc, self.db_path)
                raise _unavailable(public_reason(reason, self.db_path)) from None
            except UserError as exc:
                self.close()
                raise _unavailable(public_reason(str(exc), self.db_path)) from None

    def close(self) -> None:
        if self._store is not None:
            try:
                self._store.close()
            except sqlite3.Error:
                pass
            self._store = None


def _unavailable(reason: str) -> ApiError:
    return ApiError(
        503,
        f"API keys cannot be checked: {reason}; nothing was done, retry once it is fixed",
        code="database_unavailable",
    )
