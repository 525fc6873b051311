"""Opening the audit database safely: recognise it, never damage it, explain every refusal.

A file given as ``--db`` may be missing, someone else's SQLite database, not SQLite at
all, or read-only. Each case is detected *before* anything is written, so a refused
command leaves the file byte-for-byte as it was.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import sqlite_utils

from ..errors import UserError
from .schema import MIGRATIONS_TABLE, apply_pending

DEFAULT_DB = "llm-audit.db"
ENV_DB = "LLM_AUDIT_DB"
ENV_LOCK_TIMEOUT = "LLM_AUDIT_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT = 30.0


def lock_timeout() -> float:
    """How long a writer waits for another's write lock (``$LLM_AUDIT_LOCK_TIMEOUT`` seconds, default 30)."""
    try:
        return max(0.0, float(os.environ.get(ENV_LOCK_TIMEOUT, DEFAULT_LOCK_TIMEOUT)))
    except ValueError:
        return DEFAULT_LOCK_TIMEOUT


def describe_write_error(exc: BaseException, path: Path) -> str:
    """A failed write in words: a full disk as a full disk, a lock as a lock, never as a damaged database."""
    text = str(exc)
    errno = getattr(exc, "errno", None)
    code = getattr(exc, "sqlite_errorname", "")
    if code == "SQLITE_FULL" or "disk is full" in text or errno == 28:
        return f"the disk holding {path} is full ({text}): free space on it"
    if code.startswith("SQLITE_BUSY") or "locked" in text:
        return f"database {path} stayed locked by another writer for more than {lock_timeout():g} s ({text})"
    if isinstance(exc, OSError) and exc.strerror:
        return f"cannot write {path}: {exc.strerror}"
    return f"cannot write to database {path} ({text})"


def default_db_path() -> Path:
    return Path(os.environ.get(ENV_DB) or DEFAULT_DB)


def _check_file(path: Path) -> bool:
    """Return whether ``path`` exists; raise if it exists but cannot be ours."""
    if not path.exists():
        return False
    if path.is_dir():
        raise UserError(
            f"{path} is a folder, not a database file: pass --db with a file path such as {path / DEFAULT_DB}"
        )
    size = path.stat().st_size
    if size == 0:
        return True
    # Read through SQLite, never with open(): SQLite's locks are POSIX advisory locks, which a process loses, all of
    # them, when it closes *any* descriptor of the file. A server checking the file while its writer's connection is
    # open would lose its locks, and the next process to close the database would take itself for the last one and
    # checkpoint and delete the write-ahead log under it: records answered, never stored (test_proxy_durability).
    # SQLite's own open and close keep the descriptors of a file this process has locked.
    if not os.access(path, os.R_OK):
        raise UserError(f"cannot read database {path}: permission denied: check its permissions")
    try:
        conn = _connect_readonly(path)
        try:
            conn.execute("PRAGMA schema_version").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        if "not a database" in str(exc) or "encrypted" in str(exc):
            raise UserError(
                f"{path} is not an SQLite database: pass --db with an llm-audit database or a new file path"
            ) from None
        if "unable to open" in str(exc):
            raise UserError(f"cannot read database {path} ({exc}): check its permissions and its folder's") from None
        raise UserError(
            f"the database file is damaged or not SQLite ({exc}): restore it from a backup or pass another --db"
        ) from None
    return True


def _tables(conn: sqlite3.Connection) -> list[str]:
    try:
        return [
            r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")
        ]
    except sqlite3.DatabaseError as exc:
        raise UserError(
            f"the database file is damaged or not SQLite ({exc}): restore it from a backup or pass another --db"
        ) from None


def _check_ours(path: Path, conn: sqlite3.Connection) -> None:
    tables = _tables(conn)
    if tables and MIGRATIONS_TABLE not in tables:
        shown = ", ".join(sorted(tables)[:5])
        raise UserError(
            f"{path} is an SQLite database of another tool (tables: {shown}): pass --db with an llm-audit database or a new file path"
        )


def _connect_readonly(path: Path) -> sqlite3.Connection:
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    return sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)


def open_for_read(path: Path) -> sqlite_utils.Database:
    """Open an existing llm-audit database without the possibility of writing to it."""
    if not _check_file(path):
        raise UserError(
            f"no audit database at {path}: record something first with `llm-audit generate`, or pass --db / set {ENV_DB}"
        )
    conn = _connect_readonly(path)
    _check_ours(path, conn)
    return sqlite_utils.Database(conn)


def check_writable(path: Path) -> None:
    """Refuse early (before a model is loaded) if ``path`` could not take a new record."""
    exists = _check_file(path)
    if exists:
        conn = _connect_readonly(path)
        try:
            _check_ours(path, conn)
        finally:
            conn.close()
        # No write bit counts as read-only even for root (who bypasses permissions):
        # an archive marked read-only must never be appended to by accident.
        if not os.access(path, os.W_OK) or not (path.stat().st_mode & 0o222):
            raise UserError(
                f"database {path} is read-only: make it writable (chmod u+w) or pass --db with another file"
            )
    folder = path.resolve().parent
    if not folder.is_dir():
        raise UserError(f"folder {folder} does not exist: create it or pass --db with a path in an existing folder")
    if not os.access(folder, os.W_OK):
        raise UserError(
            f"folder {folder} is read-only, SQLite cannot write its journal there: pass --db in a writable folder"
        )


# An event of a generation is 2-3 KB: SQLite's default 4 KiB page holds one such row and leaves the rest of the
# page unused (a third of the log's bytes, measured); 16 KiB pages hold six.
# (An older database keeps its page size; `VACUUM` after `PRAGMA page_size=16384` converts it.)
PAGE_SIZE = 16384


def open_for_write(path: Path, now: str) -> sqlite_utils.Database:
    """Open (creating if needed) and migrate; call only once the write is certain to happen."""
    check_writable(path)
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=lock_timeout())
    conn.execute("PRAGMA foreign_keys=ON")
    try:
        # A new database only (a no-op once it has a table): see PAGE_SIZE.
        conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
        # WAL: readers never wait for the writer; FULL: a committed append survives power loss.
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        apply_pending(conn, now)
    except sqlite3.OperationalError as exc:
        conn.close()
        raise UserError(f"{describe_write_error(exc, path)}: nothing was written") from None
    return sqlite_utils.Database(conn)


@contextmanager
def atomic(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` unless already inside a transaction, which then owns the commit.

    Immediate, so reading the chain's tail and writing the next link never interleave with
    another writer; nested use joins the outer transaction, so a row and its event (or a whole
    batch result) commit together or not at all.
    """
    if conn.in_transaction:
        yield conn
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
