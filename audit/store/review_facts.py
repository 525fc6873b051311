"""What the review queue's rules read about each record, straight from the evidence tables, in bulk.

The review index (:mod:`.review_index`) is derived from these facts: which records the events
since its high-water mark touched, and, for those, the generation, erasure, latest replay, latest
field attribution, sign-offs, open findings and the monitoring alerts that name it, read in chunks of ``_CHUNK`` ids.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

from ..integrity.canonical_check import StoredValueError, read_json
from .alerts import AlertRepository
from .events import EventLog

_RECORD_TABLES = {
    "explanation": "explanations",
    "replay": "replays",
    "review": "reviews",
    "finding": "findings",
    "assignment": "assignments",
}
KEY_FIELDS = 3  # the worklist shows a record's first template fields
_CHUNK = 500


@dataclass
class RecordFacts:
    """What the queue rules read about one record, straight from the evidence tables."""

    seq: int
    record_id: str
    started_at: str
    use_case: str
    operator: str
    sealed: bool
    erased: bool = False
    replay_verdict: str | None = None
    replay_step: int | None = None  # first divergence, 0-based
    replay_seq: int | None = None  # event seq of the latest replay
    attribution_logprob_diff: float | None = None  # of the latest field (or segment) attribution
    attribution_stability: dict[str, Any] | None = None
    attribution_seq: int | None = None
    review_action: str | None = None  # of the effective (latest) sign-off
    review_seq: int | None = None
    reviewer: str | None = None
    reviewed_at: str | None = None
    first_reviewed_at: str | None = None
    open_findings: list[tuple[str, str]] = field(default_factory=list)  # (severity, text)
    decision: str | None = None  # the recorded decision's chosen label (None: the record has no decision)
    decision_favourable: str | None = None
    decision_runner_up: str | None = None
    decision_margin: float | None = None  # log-odds of the chosen label over the runner-up
    decision_stated: str | None = None  # the label the text states first (None: none)
    decision_agrees: bool | None = None
    label_mass: float | None = None  # the labels' share of the model's probability (set by the review rules' reader)
    key_fields: list[tuple[str, str]] = field(default_factory=list)  # the first template fields (stored text)
    assignee: str | None = None  # of the latest assignment
    unreadable: str | None = None  # a stored JSON value that is not one value (edited outside llm-audit)
    decision_label_logprobs: dict[str, float] | None = None  # the recorded ones: the label mass derives from them
    decision_min_label_mass: float | None = None  # as recorded (None: a record written before it; the default)
    alerts: list[tuple[str, str, int]] = field(default_factory=list)  # (severity, text, event seq) naming it


def touched_since(db: sqlite_utils.Database, seq: int) -> list[str]:
    """Ids of the records an event after ``seq`` is about (their state may have changed)."""
    rows = db.execute(
        "SELECT kind, subject_id FROM events WHERE seq > ? AND kind IN "
        "('generation', 'erasure', 'explanation', 'replay', 'review', 'finding', 'alert', 'assignment')",
        [seq],
    ).fetchall()
    ids: set[str] = {subject for kind, subject in rows if kind in ("generation", "erasure")}
    alerts = {subject for kind, subject in rows if kind == "alert"}
    if alerts:  # the records a new alert names (they enter the queue with it)
        ids.update(record_id for record_id, *_ in AlertRepository(db, EventLog(db)).named_records(alerts))
    by_kind: dict[str, list[str]] = {}
    for kind, subject in rows:
        if kind in _RECORD_TABLES:
            by_kind.setdefault(kind, []).append(subject)
    for kind, subjects in by_kind.items():
        for chunk in _chunks(subjects):
            marks = ", ".join("?" for _ in chunk)
            found = db.execute(f"SELECT record_id FROM {_RECORD_TABLES[kind]} WHERE id IN ({marks})", chunk).fetchall()
            ids.update(r[0] for r in found)
    return sorted(ids)


def record_facts(db: sqlite_utils.Database, record_ids: list[str] | None) -> Iterator[RecordFacts]:
    """The facts of these records (None: of every record), read in bulk."""
    if record_ids is None:
        yield from _facts_where(db, "", [])
        return
    for chunk in _chunks(record_ids):
        yield from _facts_where(db, f"IN ({', '.join('?' for _ in chunk)})", chunk)


def _facts_where(db: sqlite_utils.Database, where: str, params: list[str]) -> Iterator[RecordFacts]:
    rid = f" WHERE {{col}} {where}" if where else ""
    facts: dict[str, RecordFacts] = {}
    decided = "decision" in db["generations"].columns_dict
    # Read through the one reader (never json_extract: SQLite and Python read a duplicate key differently).
    for seq, record_id, started, use_case, operator, tags, variables, decision in db.execute(
        f"SELECT seq, id, started_at, use_case, operator, tags, variables, {'decision' if decided else 'NULL'} "
        "FROM generations" + rid.format(col="id"),
        params,
    ):
        f = facts[record_id] = RecordFacts(seq, record_id, started, use_case, operator, False)
        try:
            privacy = (read_json(tags, "tags") or {}).get("privacy")
            d = read_json(decision, "decision")
            fields = read_json(variables, "variables")
        except StoredValueError as exc:
            f.unreadable, f.sealed = f"{exc.where} {exc.reason}", True  # unreadable: never index its text
            continue
        f.sealed = bool(isinstance(privacy, dict) and privacy.get("sealed") is True)
        if isinstance(fields, dict):  # as stored: a sealed record's values are its redacted ones
            f.key_fields = [(str(k), str(v)) for k, v in list(fields.items())[:KEY_FIELDS]]
        if isinstance(d, dict) and d.get("chosen") is not None:
            f.decision, f.decision_favourable, f.decision_runner_up = (
                d["chosen"],
                d.get("favourable"),
                d.get("runner_up"),
            )
            f.decision_margin, f.decision_stated = d.get("margin"), d.get("stated")
            f.decision_agrees = bool(d.get("agrees"))
            f.decision_label_logprobs = d.get("label_logprobs") or None
            f.decision_min_label_mass = d.get("min_label_mass")
    if not facts:
        return
    for (subject,) in db.execute(
        "SELECT subject_id FROM events WHERE kind = 'erasure'" + (f" AND subject_id {where}" if where else ""),
        params,
    ):
        if subject in facts:
            facts[subject].erased = True
    if db["replays"].exists():
        for record_id, verdict, divergence, seq in db.execute(
            "SELECT t.record_id, t.verdict, t.first_divergence, e.seq FROM replays t "
            "JOIN events e ON e.subject_id = t.id AND e.kind = 'replay'"
            + rid.format(col="t.record_id")
            + " ORDER BY e.seq",
            params,
        ):
            f = facts.get(record_id)
            if f is not None:
                try:
                    first = read_json(divergence, "replays.first_divergence")
                except StoredValueError as exc:
                    f.unreadable, first = f"{exc.where} {exc.reason}", None
                step = first.get("step") if isinstance(first, dict) else None
                f.replay_verdict, f.replay_step, f.replay_seq = verdict, step, seq
    if db["explanations"].exists():
        granular = "t.granularity IN ('field', 'segment')"
        for record_id, _granularity, diff, extra, seq in db.execute(
            "SELECT t.record_id, t.granularity, t.logprob_max_diff, t.extra, e.seq "
            "FROM explanations t JOIN events e ON e.subject_id = t.id AND e.kind = 'explanation'"
            + (rid.format(col="t.record_id") + f" AND {granular}" if where else f" WHERE {granular}")
            + " ORDER BY t.granularity = 'field', e.seq",  # a field attribution wins over a segment one
            params,
        ):
            f = facts.get(record_id)
            if f is not None:
                f.attribution_logprob_diff, f.attribution_seq = diff, seq
                try:
                    stability = (read_json(extra, "explanations.extra") or {}).get("stability")
                except StoredValueError as exc:
                    f.unreadable, stability = f"{exc.where} {exc.reason}", None
                f.attribution_stability = stability or None
    if db["reviews"].exists():
        for record_id, action, reviewer, at, seq in db.execute(
            "SELECT t.record_id, t.action, t.reviewer, t.created_at, e.seq FROM reviews t "
            "JOIN events e ON e.subject_id = t.id AND e.kind = 'review'"
            + rid.format(col="t.record_id")
            + " ORDER BY e.seq",
            params,
        ):
            f = facts.get(record_id)
            if f is not None:
                f.first_reviewed_at = f.first_reviewed_at or at
                f.review_action, f.reviewer, f.reviewed_at, f.review_seq = action, reviewer, at, seq
    if db["findings"].exists():
        for record_id, severity, text in db.execute(
            "SELECT t.record_id, t.severity, t.text FROM findings t "
            "JOIN events e ON e.subject_id = t.id AND e.kind = 'finding' WHERE t.resolves IS NULL "
            "AND NOT EXISTS (SELECT 1 FROM findings r WHERE r.resolves = t.id)"
            + (f" AND t.record_id {where}" if where else "")
            + " ORDER BY e.seq",
            params,
        ):
            f = facts.get(record_id)
            if f is not None:
                f.open_findings.append((severity or "", text))
    if db["assignments"].exists():
        for record_id, assignee in db.execute(
            "SELECT t.record_id, t.assignee FROM assignments t "
            "JOIN events e ON e.subject_id = t.id AND e.kind = 'assignment'"
            + rid.format(col="t.record_id")
            + " ORDER BY e.seq",
            params,
        ):
            f = facts.get(record_id)
            if f is not None:
                f.assignee = assignee
    for record_id, severity, text, seq in AlertRepository(db, EventLog(db)).named_records():
        f = facts.get(record_id)
        if f is not None:
            f.alerts.append((severity, text, seq))
    yield from facts.values()


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]
