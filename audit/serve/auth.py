"""API-key authentication of ``serve`` and ``proxy`` over one long-lived read-only connection.

Opening the database for every request (file checks, schema check, connection) cost more than the
rest of the request's key check, and under a full disk a fresh open could fail where reading cannot:
every request then answered 500. One read-only connection (WAL: it sees each key added or revoked
by another process from the next request on) serves every check. A database that cannot be read
answers 503 naming the cause (a full disk as a full disk), never 500, and the connection is opened
again on the next request.

The full check (the key's rows in chain order) runs on a worker thread, so the event loop never waits
on it; its answer is kept per key for as long as the ``api_keys`` table is unchanged. That table is
append-only (adding and revoking a key each append a row), so its row count is a version: each
request reads it (one ``COUNT`` on the open connection, microseconds, where the thread hand-off cost
more than the proxy's whole share of a request) and any change, a revocation by another process
included, drops every kept answer before the key is used. A revoked key is refused from the next
request on, as without the cache. The count is read before the check whose answer it versions, so a
revocation that lands between the two drops the answer at the next request.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

from ..credentials import PREFIX, key_sha256
from ..errors import UserError
from ..store import AuditStore
from ..store.api_keys import TABLE as KEYS_TABLE
from ..store.database import describe_write_error
from .errors import ApiError
from .writable import public_reason, unwritable_reason

MAX_KEPT = 4096  # answers kept; past it they are dropped together (keys in force number a few per proxy)
UNKNOWN = object()  # :meth:`KeyCheck.kept`: no kept answer, run the full check


class KeyCheck:
    """``holder(key)``: the name of the key in force, or None (unknown or revoked); ``kept(key)``: the same
    answer when one is kept and the keys are unchanged since, else :data:`UNKNOWN` (then call ``holder``)."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self._store: AuditStore | None = None
        self._table: Any = None  # the api_keys table (sqlite_utils), for its row count
        self._lock = threading.Lock()
        self._holders: dict[str, str] = {}  # SHA-256 of a key in force -> its name, valid at self._version
        self._version: int | None = None

    def kept(self, key: str) -> str | object:
        """On the event loop: the kept answer for ``key`` if the keys have not changed since, else UNKNOWN.
        Never waits: a lock in use or any database error is UNKNOWN, and the full check decides."""
        if not self._lock.acquire(blocking=False):
            return UNKNOWN
        try:
            if self._table is None:
                return UNKNOWN
            version = self._table.count
            if version != self._version:
                self._holders.clear()
                return UNKNOWN
            return self._holders.get(key_sha256(key), UNKNOWN)
        except (sqlite3.Error, OSError):
            return UNKNOWN
        finally:
            self._lock.release()

    def holder(self, key: str) -> str | None:
        if not key.startswith(PREFIX):
            return None
        with self._lock:
            try:
                if self._store is None:
                    self._store = AuditStore.open(self.db_path)
                    self._table = self._store.db.table(KEYS_TABLE)
                digest = key_sha256(key)
                version = self._table.count if self._store.api_keys.exists() else None
                name = self._store.api_keys.holder(digest)
            except (sqlite3.Error, OSError) as exc:
                self.close()
                reason = unwritable_reason(self.db_path) or describe_write_error(exc, self.db_path)
                raise _unavailable(public_reason(reason, self.db_path)) from None
            except UserError as exc:
                self.close()
                raise _unavailable(public_reason(str(exc), self.db_path)) from None
            if version != self._version:
                self._holders.clear()
                self._version = version
            if name is not None and version is not None:
                if len(self._holders) >= MAX_KEPT:
                    self._holders.clear()
                self._holders[digest] = name
            return name

    def close(self) -> None:
        self._holders.clear()
        self._version = None
        self._table = None
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
