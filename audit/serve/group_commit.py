"""The one writer of a server or proxy: every record waiting, stored in one transaction, answered after its commit.

Committing each record alone costs a transaction, an fsync and (every tenth) a checkpoint per
completion, and opening the database for each one re-ran the migrations check: about 30 records a
second. The writer instead keeps one write connection for its life and, each time it wakes, takes
every record waiting (up to :data:`MAX_BATCH`), builds them (a proxied record is assembled here, off
the event loop), applies the privacy policy, and appends them in one ``BEGIN IMMEDIATE`` ... ``COMMIT``
with at most one automatic checkpoint, signed at the end of the batch under the usual rule
(:meth:`audit.store.checkpoints.CheckpointRepository.sign_if_due`). Each request is answered only once
that commit returned: no completion without a record (fail-closed).

When records arrive close together (a fast upstream under load) the writer lingers briefly for the
ones on their way (:meth:`GroupWriter._gather`): a batch's fixed cost (its transaction, fsync and
checkpoint) then spreads over more records. It never lingers for a lone request, nor when records
arrive further apart than :data:`LINGER` (a slow upstream): then each waits for nothing but its commit.

A record that fails on its own (a bug in building it) is rolled back to its savepoint and refused
alone; a database that cannot take the batch (full disk, a lock held past ``$LLM_AUDIT_LOCK_TIMEOUT``,
a read-only file) refuses the whole batch: each record is kept in the pending spool (:mod:`audit.spool`), marked
``refused`` (the client got a 503, or a stream an error event), so ``llm-audit append-pending``
restores it later saying the client never had it; the connection is reopened for the next batch.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import spool
from ..errors import UserError
from ..store import AuditStore
from ..store.batch import append_batch
from ..store.database import describe_write_error
from .errors import ApiError, not_stored
from .writable import public_reason, unwritable_reason

if TYPE_CHECKING:
    from ..privacy.guard import PrivacyGuard
    from ..record import GenerationRecord
    from .metrics import Metrics

log = logging.getLogger("llm_audit.serve")

MAX_BATCH = 256  # records per transaction: bounds a batch's latency and the memory of one commit
LINGER = 0.005  # seconds a batch may wait for more records on their way, at most (see _gather)
Done = Callable[[str | None, ApiError | None], None]  # (record hash, None) after the commit, or (None, the refusal)


@dataclass
class _Item:
    build: Callable[[], GenerationRecord]
    done: Done
    record: GenerationRecord | None = None
    stored: GenerationRecord | None = None
    answered: bool = False  # refused alone already (its savepoint rolled back)


class _BatchRefused(Exception):
    """The database refused the batch: ``reason`` in words (a full disk as a full disk, a lock as a lock)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def mark_refused(record: GenerationRecord, reason: str) -> None:
    """Say in the record that its client never had the completion (journaled, appended later)."""
    serve = dict(record.tags.get("serve") or {})
    delivery = dict(serve.get("delivery") or {})
    delivery.update(state="refused", refused_because=reason)
    serve["delivery"] = delivery
    record.tags = {**record.tags, "serve": serve}


class GroupWriter(threading.Thread):
    """The thread that writes the database (see the module's docstring)."""

    def __init__(
        self, db_path: Path, guard: PrivacyGuard, metrics: Metrics, expected: Callable[[], int] | None = None
    ) -> None:
        """``expected()``: how many records are on their way now (the proxy's requests in flight, this batch's
        included); None: never linger (the server's model makes one record at a time)."""
        super().__init__(name="llm-audit-writer", daemon=True)
        self.db_path = db_path
        self.guard = guard
        self.metrics = metrics
        self.pending: queue.SimpleQueue = queue.SimpleQueue()
        self.store: AuditStore | None = None
        self.failure: str | None = None  # why the last batch was refused; None once a batch commits
        self.in_transaction = False
        self.expected = expected
        self.gap = LINGER  # seconds between two submitted records, smoothed (read by _gather)
        self._last_submit = 0.0

    # -- the requests' side --------------------------------------------------------------------------
    def submit(self, record: GenerationRecord | Callable[[], GenerationRecord], done: Done) -> None:
        """Store ``record`` (or what ``record()`` builds, on this thread) and then call ``done``."""
        build = record if callable(record) else (lambda: record)
        now = time.monotonic()
        self.gap += 0.2 * (min(now - self._last_submit, 1.0) - self.gap)
        self._last_submit = now
        self.pending.put(_Item(build, done))

    def stop(self) -> None:
        """Write what is queued, then end."""
        self.pending.put(None)

    # -- the writer's side ---------------------------------------------------------------------------
    def run(self) -> None:
        try:
            running = True
            while running:
                first = self.pending.get()
                if first is None:
                    break
                batch = [first]
                running = self._take_waiting(batch) and self._gather(batch)
                self._write(batch)
        finally:
            self._close()

    def _take_waiting(self, batch: list[_Item]) -> bool:
        """Add every record already waiting to ``batch``; False once told to stop."""
        while len(batch) < MAX_BATCH:
            try:
                item = self.pending.get_nowait()
            except queue.Empty:
                return True
            if item is None:
                return False
            batch.append(item)
        return True

    def _gather(self, batch: list[_Item]) -> bool:
        """Wait up to :data:`LINGER` for the records on their way while they arrive less than :data:`LINGER` apart
        (each wait at most twice the usual gap); False once told to stop."""
        if self.expected is None:
            return True
        deadline = time.monotonic() + LINGER
        while len(batch) < MAX_BATCH and self.expected() > len(batch) and self.gap < LINGER:
            wait = min(deadline - time.monotonic(), 2 * self.gap)
            if wait <= 0:
                return True
            try:
                item = self.pending.get(timeout=wait)
            except queue.Empty:
                return True
            if item is None:
                return False
            batch.append(item)
            if not self._take_waiting(batch):
                return False
        return True

    def _write(self, batch: list[_Item]) -> None:
        ready = [item for item in batch if self._build(item)]
        if not ready:
            return
        try:
            hashes = self._commit(ready)
        except _BatchRefused as refused:
            self.failure = refused.reason
            self._close()
            for item in ready:
                if not item.answered:
                    self._refuse(item, refused.reason)
            return
        self.failure = None
        self.metrics.batches.inc()
        for item, record_hash in zip(ready, hashes):
            assert item.record is not None and item.stored is not None
            if record_hash is None:
                continue  # refused alone, answered in _commit
            item.record.seq, item.record.tags = item.stored.seq, item.stored.tags
            self.metrics.records_written.inc()
            item.done(record_hash, None)

    def _build(self, item: _Item) -> bool:
        try:
            item.record = item.build()
            protect = self.guard is not None and self.guard.policy is not None
            item.stored = self.guard.protect(item.record) if protect else item.record
        except UserError as exc:  # the privacy key store cannot be written: the environment, a 503
            self.metrics.records_failed.inc()
            item.done(None, not_stored(public_reason(str(exc), self.db_path)))
            return False
        except Exception as exc:  # noqa: BLE001 - a bug in building this one record: it alone is refused
            log.exception("building a record failed")
            self.metrics.records_failed.inc()
            item.done(None, ApiError(500, f"the record could not be built ({type(exc).__name__}): nothing was stored"))
            return False
        return True

    def _commit(self, items: list[_Item]) -> list[str | None]:
        """Append every item in one transaction; each one's payload hash (None: refused alone)."""
        reason = unwritable_reason(self.db_path)
        if reason is not None:
            raise _BatchRefused(reason)

        def failed(n: int, exc: Exception) -> None:
            log.error("record %s not stored: %s", items[n].stored.id, exc)
            items[n].answered = True
            self.metrics.records_failed.inc()
            items[n].done(None, not_stored(f"{type(exc).__name__}: {str(exc)[:200]}"))

        try:
            store = self._open()
            self.in_transaction = True
            return append_batch(store, [item.stored for item in items], failed)
        except (sqlite3.Error, OSError) as exc:
            raise _BatchRefused(public_reason(describe_write_error(exc, self.db_path), self.db_path)) from None
        except UserError as exc:  # opening refused (read-only, not ours), or a checkpoint refused to sign
            raise _BatchRefused(public_reason(str(exc), self.db_path)) from None
        finally:
            self.in_transaction = False

    def _open(self) -> AuditStore:
        if self.store is None:
            self.store = AuditStore.open(self.db_path, write=True)
            self.store.events.after_append = None  # the batch signs once, at its end
        return self.store

    def _close(self) -> None:
        if self.store is not None:
            try:
                self.store.close()
            except sqlite3.Error:
                pass
            self.store = None

    def _refuse(self, item: _Item, reason: str) -> None:
        """Keep the record in the journal, marked refused, and answer 503 (never a completion without a record)."""
        assert item.stored is not None
        self.metrics.records_failed.inc()
        mark_refused(item.stored, reason)
        try:
            kept: Any = spool.keep(self.db_path, "generation", item.stored, reason)
        except UserError as exc:
            log.error("record %s lost: %s", item.stored.id, exc)
            item.done(None, not_stored(reason))
            return
        log.error("record %s not stored (%s); kept in the pending spool %s", item.stored.id, reason, kept.parent)
        item.done(None, not_stored(reason))
