"""Whether the next write would fail, told cheaply, and refusals worded without the server's paths.

The server and the proxy refuse a completion *before* its upstream or model spends time on it when
the database visibly cannot take its record (a read-only file, a read-only folder, a full disk), and
``/healthz`` answers 503 whenever the next write would fail: those, a write lock another process has
held past ``$LLM_AUDIT_LOCK_TIMEOUT`` (probed without writing), or a last write that failed. These
checks are system calls (``stat``, ``statvfs``), never a database open, so they run on every request.
What a client reads names the database by its file name only: absolute server paths stay in the logs.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from ..store.batch import lock_held
from ..store.database import describe_write_error, lock_timeout

if TYPE_CHECKING:
    from .group_commit import GroupWriter

MIN_FREE_BYTES = 1 << 20  # below this the next batch of records may not fit: refused as a full disk
HEALTH_LOCK_WAIT = 2.0  # seconds /healthz waits for the write lock before calling it held


def unwritable_reason(db_path: Path) -> str | None:
    """Why the next write to ``db_path`` would fail, from the file system alone; None when nothing shows."""
    name = db_path.name
    try:
        mode = db_path.stat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        return f"cannot read database {name}: {exc.strerror}"
    # No write bit counts as read-only even for root, as `check_writable` has it.
    if mode is not None and (not (mode & 0o222) or not os.access(db_path, os.W_OK)):
        return f"database {name} is read-only: make it writable (chmod u+w)"
    folder = _folder(db_path)
    if not os.access(folder, os.W_OK):
        return f"the folder of database {name} is read-only: SQLite cannot write its journal there"
    try:
        stats = os.statvfs(folder)
    except OSError:
        return None
    if stats.f_bavail * stats.f_frsize < MIN_FREE_BYTES:
        free = stats.f_bavail * stats.f_frsize
        return f"the disk holding {name} is full ({free} bytes free): free space on it"
    return None


@lru_cache(maxsize=64)
def _folder(db_path: Path) -> Path:
    """The folder SQLite writes ``db_path``'s journal in (symbolic links resolved): resolving took two thirds of
    the check, which runs for every request; a database's folder does not move under a running server."""
    return db_path.resolve().parent


def lock_held_reason(db_path: Path) -> str | None:
    """Whether another process holds the database's write lock (waited for at most :data:`HEALTH_LOCK_WAIT` s)."""
    if not db_path.exists():
        return None
    found = lock_held(db_path, min(lock_timeout(), HEALTH_LOCK_WAIT))
    if isinstance(found, Exception):
        return public_reason(describe_write_error(found, db_path), db_path)
    held, waited = found
    if held:
        return f"database {db_path.name} is locked by another writer (waited {waited:.1f} s): the next write would wait and fail"
    return None


def public_reason(text: str, db_path: Path) -> str:
    """``text`` with the database's absolute path and folder replaced by its file name (no server paths)."""
    for path in (str(db_path.resolve()), str(db_path)):
        text = text.replace(path, db_path.name)
    for folder in (str(db_path.resolve().parent), str(db_path.parent)):
        if folder not in ("", "."):
            text = text.replace(folder + os.sep, "").replace(folder, "(the database's folder)")
    return text


def next_write_fails(db_path: Path, writer: GroupWriter) -> str | None:
    """Why the next record would be refused (what ``/healthz`` and ``/metrics`` report as 503), or None: the file
    system first, then a write lock held elsewhere (probed), then the writer's last failure until a batch commits
    again (a failure that was a lock is over once the probe finds the lock free)."""
    return write_refusal(db_path, writer, probe_lock=True)


def write_refusal(db_path: Path, writer: GroupWriter, *, probe_lock: bool) -> str | None:
    """:func:`next_write_fails`; without ``probe_lock`` the write lock is probed only after a write failed on it
    (what ``GET /v1/models`` uses: the probe may wait :data:`HEALTH_LOCK_WAIT` s, which only a fault may cost)."""
    reason = unwritable_reason(db_path)
    failure = writer.failure
    locked = failure is not None and "locked" in failure
    if reason is None and (probe_lock or locked) and not writer.in_transaction:
        reason = lock_held_reason(db_path)
    if reason is None and failure is not None and not locked:
        reason = f"the last write failed: {failure}"
    return reason
