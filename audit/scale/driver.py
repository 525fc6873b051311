"""The one writer: stores each result in its own transaction as it arrives.

Whatever the executor, the driver alone opens the database for writing. A result is stored
with its event in one transaction, after checking (inside that transaction) that the same
result is not already there, so a retried or duplicated task can never be stored twice and
an interrupted run leaves only whole results behind.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import spool
from ..errors import UserError
from ..store import AuditStore
from ..store.database import describe_write_error
from .executors import Executor
from .pending import Selection
from .summary import BatchSummary


def run_batch(
    db_path: Path,
    work: Any,
    selection: Selection,
    executor: Executor,
    *,
    progress: bool = False,
    on_stored: Callable[[BatchSummary], None] | None = None,
    seal: Callable[[Any], Any] | None = None,
) -> BatchSummary:
    """Send ``selection.todo`` through ``executor``, store the results, return the counts.

    ``seal`` turns a result into the form to store (the clear token labels of a sealed
    record encrypted, see :mod:`audit.privacy`); workers only ever see and return clear
    results, so keys never leave the driver.

    Ctrl-C (KeyboardInterrupt) stops the run between two results: the summary then says
    ``interrupted`` and the same command resumes where it stopped.
    """
    from ..progress import bar as progress_bar

    summary = BatchSummary(
        kind=work.kind,
        executor=executor.name,
        workers=executor.workers,
        selected=selection.selected,
        already_done=selection.already_done,
        skipped=dict(selection.skipped),
        todo=len(selection.todo),
    )
    started = time.perf_counter()
    seen: set[str] = set()
    if not selection.todo:
        return summary
    bar = progress_bar(total=len(selection.todo), desc=f"{work.kind}s", unit="record", enabled=progress)
    outcomes = executor.run(work, selection.todo)
    try:
        with AuditStore.open(db_path, write=True) as store:
            for outcome in outcomes:
                summary.workers = executor.workers
                stats = summary.worker(outcome.worker)
                stats.records += 1
                stats.busy_s += outcome.seconds
                if outcome.attempts > 1:
                    summary.retried += 1
                    stats.retried += 1
                if outcome.warnings:
                    summary.warnings[outcome.record_id] = outcome.warnings
                if outcome.error is not None:
                    summary.failures[outcome.record_id] = outcome.error
                    stats.failures += 1
                elif outcome.record_id in seen:
                    summary.duplicates += 1
                else:
                    to_store = seal(outcome.result) if seal else outcome.result
                    try:
                        with store.transaction():
                            if work.is_stored(store, outcome.record_id):
                                summary.duplicates += 1
                            else:
                                summary.stored_ids.append(work.store(store, to_store))
                                summary.results.append(outcome.result)
                                summary.stored += 1
                    except (sqlite3.Error, OSError, UserError) as exc:  # computed work is kept, never lost
                        reason = str(exc) if isinstance(exc, UserError) else describe_write_error(exc, db_path)
                        kept = spool.keep(db_path, work.kind, to_store, reason)
                        summary.failures[outcome.record_id] = (
                            f"not stored ({reason}): kept in {kept}; run `llm-audit append-pending --db {db_path}`"
                        )
                    seen.add(outcome.record_id)
                    if on_stored is not None:
                        on_stored(summary)
                bar.update(1)
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        outcomes.close()  # releases the workers (kills Ray actors) even when interrupted
        bar.close()
        summary.seconds = time.perf_counter() - started
    return summary
