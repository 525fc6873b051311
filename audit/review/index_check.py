"""The review index is derived, never trusted: check it against the evidence it is built from.

The index (:mod:`audit.store.review_index`) is not evidence and not append-only, so whoever can
write the database can edit it: hide a record from the queue, mark it accepted with no sign-off
behind it, or move its high-water mark past the end of the log so that later events (a critical
finding) never enter the queue. Such edits need no key, so a digest stored beside it would prove
nothing; instead every row is recomputed from the evidence (the facts and the queue rules) and
compared, for the records no event since the mark has touched (those are refreshed anyway).

``verify`` (through the façade) reports a mismatch as ``derived-index``; the workspace checks the
index when it first opens the database and, on a mismatch, rebuilds it from the evidence and says so.
"""

from __future__ import annotations

from ..store import AuditStore
from ..store.review_index import INDEX_COLUMNS, index_values, reason_rows
from .rules import RULES_VERSION, evaluate


def index_problems(store: AuditStore) -> list[str]:
    """What in the review index differs from what the evidence gives (empty: it matches, or there is none)."""
    index = store.review_index
    mark_text = index.meta("event_seq") if index.exists() else None
    if mark_text is None or index.meta("rules") != RULES_VERSION:
        return []  # no index yet, or one of another rule set: the next refresh rebuilds it from the evidence
    mark, last = int(mark_text), index.last_event()
    problems = []
    if mark > last:
        problems.append(
            f"the review index claims to include the log up to event {mark}, but the log has {last} events: its mark "
            "was edited (the queue would take no new event)"
        )
        mark = last
    touched = set(index.touched_since(mark))
    expected, reasons = {}, set()
    for facts in index.facts(None):
        if facts.record_id not in touched:
            entry = evaluate(facts)
            expected[facts.record_id] = tuple(index_values(entry))
            reasons.update(reason_rows(entry))
    stored = {rid: row for rid, row in index.stored_rows().items() if rid not in touched}
    for record_id in sorted(set(expected) | set(stored)):
        want, have = expected.get(record_id), stored.get(record_id)
        if have is None:
            problems.append(f"review index has no row for record {record_id}: it was hidden from the queue")
        elif want is None:
            problems.append(f"review index row for record {record_id} has no record in the evidence")
        elif want != have:
            columns = [c for c, a, b in zip(INDEX_COLUMNS, want, have) if a != b]
            problems.append(
                f"review index row for record {record_id} differs from the evidence in {', '.join(columns)} "
                f"(table review_index): it was edited"
            )
    stored_reasons = index.stored_reasons()
    seqs = {row[0] for row in expected.values()}
    extra = {r for r in stored_reasons if r[3] in seqs} - reasons
    missing = reasons - stored_reasons
    if extra or missing:
        problems.append(
            f"review index reasons (table review_reasons) differ from the evidence: {len(missing)} missing, "
            f"{len(extra)} added"
        )
    return problems


def rebuild_if_edited(store: AuditStore) -> list[str]:
    """Check the index; if it does not match the evidence, rebuild it from the evidence. What was wrong."""
    problems = index_problems(store)
    if problems:
        index = store.review_index
        with store.transaction():
            index.write((evaluate(f) for f in index.facts(None)), index.last_event(), RULES_VERSION, rebuild=True)
    return problems


__all__ = ["index_problems", "rebuild_if_edited"]
