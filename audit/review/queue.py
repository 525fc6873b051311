"""Keep the store's review index current, then read the queue and the records list from it.

A refresh folds in only the events logged since the last one (their records are re-evaluated
with :mod:`.rules`); a new rule set rebuilds the whole index. It runs inside one write
transaction, so two requests never fold the same events twice, and it is cheap when nothing
changed (one ``MAX(seq)``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..store import AuditStore
from ..store.review_index import LAYOUT, IndexRow, RecordFilter
from .rules import REASONS, RULES, RULES_VERSION, evaluate

PAGE_SIZE = 50


def refresh(store: AuditStore) -> int:
    """Bring the index up to the last event; how many records were (re)evaluated."""
    index = store.review_index
    with store.transaction():
        last = index.last_event()
        rebuild = index.meta("rules") != RULES_VERSION or index.meta("layout") != LAYOUT
        mark = int(index.meta("event_seq") or 0)
        if not rebuild and mark >= last:
            return 0
        ids = None if rebuild else index.touched_since(mark)
        return index.write((evaluate(facts) for facts in index.facts(ids)), last, RULES_VERSION, rebuild=rebuild)


@dataclass
class Page:
    rows: list[IndexRow]
    total: int
    page: int
    pages: int


@dataclass
class QueuePage(Page):
    counts: list[tuple[str, str, int]]  # (reason, title, records), in urgency order
    reason: str | None
    requested_reason: str | None = None  # the reason asked for, known or not (an unknown one lists nothing)
    mine: bool = False
    notice: str | None = None  # the index had to be rebuilt from the evidence (edited outside llm-audit)


def _page(page: int) -> int:
    return max(1, min(int(page), 10**6))


def queue_page(
    store: AuditStore, reason: str | None, page: int, size: int = PAGE_SIZE, assignee: str | None = None
) -> QueuePage:
    page = _page(page)
    rows, total = store.review_index.queue(reason=reason, limit=size, offset=(page - 1) * size, assignee=assignee)
    counts = store.review_index.reason_counts()
    return QueuePage(
        rows,
        total,
        page,
        max(1, -(-total // size)),
        [(rule.reason, rule.title, counts.get(rule.reason, 0)) for rule in RULES],
        reason if reason in REASONS else None,
        reason,
        assignee is not None,
    )


def records_page(store: AuditStore, filters: RecordFilter, page: int, size: int = PAGE_SIZE) -> Page:
    page = _page(page)
    rows, total = store.review_index.records(filters, limit=size, offset=(page - 1) * size)
    return Page(rows, total, page, max(1, -(-total // size)))
