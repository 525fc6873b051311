"""The evidence check in a forked second process, side by side with the chain pass."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ..errors import UserError
from ..store import AuditStore
from .evidence_check import EvidenceOutcome, evidence_pass


def evidence_in_a_process(path: Path):
    """Start :func:`evidence_pass` in a forked process (its own read-only connection); a callable that waits for it.

    The evidence pass and the chain pass each read the whole log; on two cores they run side by
    side. None where processes cannot be forked (then the caller runs the pass itself).
    """
    import multiprocessing

    try:
        context = multiprocessing.get_context("fork")
    except ValueError:
        return None
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_evidence_child, args=(path, send), daemon=True)
    process.start()
    send.close()

    def wait() -> EvidenceOutcome:
        try:
            outcome = receive.recv()
        except EOFError:
            outcome = RuntimeError("the evidence check process ended without a result")
        process.join()
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    return wait


def _evidence_child(path: Path, send) -> None:
    try:
        with AuditStore.open(path) as store:
            send.send(evidence_pass(store))
    except BaseException as exc:  # noqa: BLE001 - handed to the parent, which raises it
        send.send(exc if isinstance(exc, UserError | sqlite3.Error) else RuntimeError(f"{type(exc).__name__}: {exc}"))
    finally:
        send.close()


# A second process pays off only with a core to spare: below 20,000 events its start and second read of the log
# cost more than it saves, and on 2 shared cores it measured no faster (benchmarks/verify.py, one-process row).
PARALLEL_FROM_EVENTS = 20_000
PARALLEL_FROM_CORES = 4
