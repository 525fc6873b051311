"""The two batch commands: explain or replay every matching record, through one driver.

Both select records from the store, open sealed ones for the workers (a record whose key is
missing is skipped with the reason), and hand them to :func:`.driver.run_batch` with the
executor given (in this process by default, or Ray). Single-record ``explain`` and ``replay``
are the same computation on one record, stored through the same repository ``append``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..attribution.request import ExplainRequest
from ..errors import UserError
from ..integrity.keys import sign_tail
from ..record import GenerationRecord
from ..store import AuditStore, check_writable
from .driver import run_batch
from .executors import Executor
from .pending import Selection, select_for_explain
from .summary import BatchSummary
from .work import ExplainWork, FairnessWork, ReplayWork

if TYPE_CHECKING:
    from ..counterfactual.values import Swap
    from ..fairness.result import FairnessResult
    from ..privacy.guard import PrivacyGuard

# The keyword options of explain_batch beside the method's own parameters.
BATCH_OPTIONS = ("record_ids", "use_case", "since", "until", "progress", "on_stored")


def _records(
    store: AuditStore,
    record_ids: list[str] | None,
    use_case: str | None,
    since: str | None,
    until: str | None,
) -> list[GenerationRecord]:
    if record_ids is not None:
        return [store.records.get(record_id) for record_id in record_ids]
    records = list(store.records.iter(use_case=use_case, since=since, until=until))
    if not records:
        where = f" with use case {use_case!r}" if use_case and not (since or until) else " matching the filters"
        raise UserError(f"no records{where}: run `llm-audit list` to see what is recorded")
    return records


def run_on_records(
    db_path: Path,
    guard: PrivacyGuard,
    work: Any,
    executor: Executor,
    select: Callable[[AuditStore, list[GenerationRecord]], Selection],
    *,
    record_ids: list[str] | None = None,
    use_case: str | None = None,
    since: str | None = None,
    until: str | None = None,
    progress: bool = False,
    on_stored: Callable[[BatchSummary], None] | None = None,
) -> BatchSummary:
    """Run ``work`` on the named records (a sealed one must open) or on every matching one (a sealed
    one whose key is missing is skipped with the reason); ``select`` says which of them still need it."""
    check_writable(db_path)
    with AuditStore.open(db_path) as store:
        records = _records(store, record_ids, use_case, since, until)
        if record_ids is None:
            opened, locked = guard.open_for_batch(store, records)
        else:
            opened, locked = [guard.open_stored(store, r, True) for r in records], {}
        selection = select(store, opened)
    selection.selected += len(locked)
    selection.skipped.update(locked)
    summary = run_batch(
        db_path, work, selection, executor, progress=progress, on_stored=on_stored, seal=guard.sealer(selection.todo)
    )
    if summary.stored:
        try:
            sign_tail(db_path)  # a batch command always ends covered by a signed checkpoint
        except (UserError, sqlite3.Error) as exc:
            summary.warnings["checkpoint"] = [
                f"the final checkpoint was not signed ({exc}): run `llm-audit checkpoint`"
            ]
    return summary


def explain_batch(
    db_path: Path, guard: PrivacyGuard, request: ExplainRequest, executor: Executor, **options: Any
) -> BatchSummary:
    """Explain every matching record not yet explained by ``request``; resumable and idempotent.
    ``options``: those of :func:`run_on_records`."""

    def select(store: AuditStore, records: list[GenerationRecord]) -> Selection:
        return select_for_explain(store, records, request)

    return run_on_records(db_path, guard, ExplainWork(request), executor, select, **options)


def replay_batch(
    db_path: Path, guard: PrivacyGuard, work: ReplayWork, executor: Executor, **options: Any
) -> BatchSummary:
    """Replay the named records, or every matching one, oldest first; one replay stored per record.
    ``options``: those of :func:`run_on_records`."""

    def select(store: AuditStore, records: list[GenerationRecord]) -> Selection:
        return Selection(todo=records, selected=len(records))  # every run is a new reproduction check

    return run_on_records(db_path, guard, work, executor, select, **options)


def fairness_batch(
    db_path: Path,
    guard: PrivacyGuard,
    swaps: list[Swap],
    executor: Executor,
    *,
    use_case: str | None = None,
    since: str | None = None,
    until: str | None = None,
    progress: bool = False,
) -> FairnessResult:
    """Score every matching record under ``swaps`` through ``executor`` (in this process or Ray), then
    aggregate and store one protected-attribute result (its event, then a signed checkpoint).

    Records are selected as ``explain --all`` selects them (a sealed one whose key is missing is
    skipped with the reason, as are records without a decision or without any swapped field).
    A record that fails to score refuses the run: a rate over the records that happened to work
    would claim more than was measured.
    """
    import time

    from .. import spool
    from ..fairness.analyse import aggregate, skip_reason
    from ..progress import bar as progress_bar

    check_writable(db_path)
    started = time.perf_counter()
    with AuditStore.open(db_path) as store:
        records = _records(store, None, use_case, since, until)
        opened, skipped = guard.open_for_batch(store, records)
    skipped = dict(skipped)
    todo = []
    for record in opened:
        why = skip_reason(record, swaps)
        if why:
            skipped[record.id] = why
        else:
            todo.append(record)
    if not todo:
        from collections import Counter

        counts = Counter(skipped.values())
        why = "; ".join(f"{n} record{'s' if n != 1 else ''}: {reason}" for reason, n in counts.most_common())
        fields = ", ".join(s.field for s in swaps)
        raise UserError(
            f"no record{f' of use case {use_case}' if use_case else ''} has a decision and the field {fields} in its "
            f"template ({why}): swap a field the template has (see `llm-audit show ID --json`)"
        )
    work = FairnessWork(tuple(swaps))
    scored = []
    failures = {}
    with progress_bar(total=len(todo), desc="fairness", unit="record", enabled=progress) as bar:
        outcomes = executor.run(work, todo)
        try:
            for outcome in outcomes:
                if outcome.error is not None:
                    failures[outcome.record_id] = outcome.error
                else:
                    scored.append(outcome.result)
                bar.update(1)
        finally:
            outcomes.close()
    if failures:
        record_id, error = next(iter(failures.items()))
        raise UserError(f"{len(failures)} record(s) could not be scored, e.g. {record_id}: {error}; nothing was stored")
    model = recorded_model(todo[0])  # every record was checked to be on the model that scored it
    filters = {k: v for k, v in (("use_case", use_case), ("since", since), ("until", until)) if v}
    result = aggregate(
        swaps, scored, skipped, use_case=use_case, filters=filters, model=model, seconds=time.perf_counter() - started
    )
    spool.store_or_keep(db_path, "fairness", result)
    try:
        sign_tail(db_path)
    except (UserError, sqlite3.Error) as exc:
        result.warnings.append(f"the final checkpoint was not signed ({exc}): run `llm-audit checkpoint`")
    return result


def recorded_model(record: GenerationRecord) -> dict[str, str]:
    """A record's model as results name it: its name and weights files' SHA-256 (``file=digest``)."""
    return {"name": record.model.name, "weights_sha256": record.model.weights_text}
