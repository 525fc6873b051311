"""The review index: each record's review state and queue reasons, kept beside the evidence for fast pages.

The queue and the records list of the review workspace filter, sort, count and page over every
record; recomputing each record's state from the evidence tables on every request would not
scale past a few thousand records. So the state is *derived* once per change into this index:
one row per record (review state, replay verdict, open findings, the queue rank), one row per
(record, queue reason), and a full-text index over the stored prompt and output of records that
are not sealed (the clear text of a sealed record is never indexed).

The index is not evidence and is not append-only: it is rebuilt from the evidence tables at any
time (on a new rule set, or by deleting it), and every fact a page states about a record is read
from the evidence itself. A high-water mark (the last event seq folded in) makes a refresh cost
only the events since the last one. Which records an event touches, and the facts the rules need,
are read in :mod:`.review_facts`; the rules themselves live in :mod:`audit.review.rules`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

from .database import atomic
from .events import RECORD_EVENTS_INDEX
from .review_facts import RecordFacts, record_facts, touched_since
from .schema import register

INDEX, REASONS, META, TEXT = "review_index", "review_reasons", "review_index_meta", "review_text"
NOT_REPLAYED, UNREVIEWED = "not replayed", "unreviewed"

register(
    "review_index",
    1,
    "derived review state, queue reasons and text index of records (rebuildable, not evidence)",
    f"""CREATE TABLE {INDEX} (
        seq INTEGER PRIMARY KEY,
        record_id TEXT NOT NULL UNIQUE,
        started_at TEXT NOT NULL,
        use_case TEXT NOT NULL,
        operator TEXT NOT NULL,
        sealed INTEGER NOT NULL,
        review_state TEXT NOT NULL,
        reviewer TEXT,
        reviewed_at TEXT,
        first_reviewed_at TEXT,
        replay_verdict TEXT NOT NULL,
        decision TEXT,
        open_findings INTEGER NOT NULL,
        rank INTEGER,
        reasons TEXT NOT NULL
    )""",
    f"CREATE INDEX idx_{INDEX}_queue ON {INDEX} (rank, started_at, seq) WHERE rank IS NOT NULL",
    f"CREATE INDEX idx_{INDEX}_started ON {INDEX} (started_at, seq)",
    f"CREATE INDEX idx_{INDEX}_use_case ON {INDEX} (use_case, started_at)",
    f"CREATE INDEX idx_{INDEX}_operator ON {INDEX} (operator, started_at)",
    f"CREATE INDEX idx_{INDEX}_review ON {INDEX} (review_state, started_at)",
    f"CREATE INDEX idx_{INDEX}_replay ON {INDEX} (replay_verdict, started_at)",
    f"CREATE INDEX idx_{INDEX}_decision ON {INDEX} (decision, started_at)",
    f"""CREATE TABLE {REASONS} (
        reason TEXT NOT NULL,
        rank INTEGER NOT NULL,
        started_at TEXT NOT NULL,
        record_seq INTEGER NOT NULL,
        PRIMARY KEY (reason, rank, started_at, record_seq)
    ) WITHOUT ROWID""",
    f"CREATE INDEX idx_{REASONS}_record ON {REASONS} (record_seq)",
    f"CREATE TABLE {META} (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    f"""CREATE VIRTUAL TABLE {TEXT} USING fts5(prompt, output_text, content='generations', content_rowid='seq',
        tokenize='unicode61 remove_diacritics 2')""",
    RECORD_EVENTS_INDEX,  # a record page finds every event about the record, even of a deleted row
)
register(
    "review_index",
    2,
    "the worklist's columns: label mass, key fields, assignee (the index is rebuilt on the next refresh)",
    f"ALTER TABLE {INDEX} ADD COLUMN label_mass REAL",
    f"ALTER TABLE {INDEX} ADD COLUMN key_fields TEXT NOT NULL DEFAULT '[]'",
    f"ALTER TABLE {INDEX} ADD COLUMN assignee TEXT",
    f"CREATE INDEX idx_{INDEX}_assignee ON {INDEX} (assignee, started_at)",
    "DROP INDEX IF EXISTS idx_events_record",  # the events about a record now include its assignments
    RECORD_EVENTS_INDEX,
)
LAYOUT = "2"  # part of the index's version: a new layout rebuilds it on the next refresh


@dataclass
class IndexEntry:
    """One record's derived state, as the rules decided it."""

    facts: RecordFacts
    rank: int | None  # None: not in the queue; smaller is more urgent
    reasons: list[tuple[str, str]]  # (reason, detail), most urgent first


@dataclass
class IndexRow:
    seq: int
    record_id: str
    started_at: str
    use_case: str
    operator: str
    sealed: bool
    review_state: str
    reviewer: str | None
    reviewed_at: str | None
    first_reviewed_at: str | None
    replay_verdict: str
    decision: str | None
    open_findings: int
    rank: int | None
    reasons: list[tuple[str, str]]
    label_mass: float | None = None
    key_fields: list[tuple[str, str]] = field(default_factory=list)
    assignee: str | None = None


_ROW_COLUMNS = tuple(IndexRow.__dataclass_fields__)


def _index_row(row: Any) -> IndexRow:
    data = dict(zip(_ROW_COLUMNS, row))
    data["sealed"] = bool(data["sealed"])
    data["reasons"] = [tuple(r) for r in json.loads(data["reasons"])]
    data["key_fields"] = [tuple(r) for r in json.loads(data["key_fields"] or "[]")]
    return IndexRow(**data)


@dataclass
class RecordFilter:
    """The records list's filters; every one optional. Times are store-format ISO strings."""

    use_case: str | None = None
    since: str | None = None
    until: str | None = None
    operator: str | None = None
    decision: str | None = None
    review_state: str | None = None  # "unreviewed" | "accepted" | "overridden"
    replay_verdict: str | None = None  # "not replayed" | "identical" | ...
    text: str | None = None  # words, all of which must occur in the prompt or output (unsealed records)
    assignee: str | None = None  # records assigned to this user (the "mine" filter)


def fts_query(text: str) -> str | None:
    """Each word as a quoted FTS5 prefix term, all required; None when there is no word."""
    words = [w for w in "".join(c if c.isalnum() else " " for c in text).split() if w]
    return " AND ".join('"' + w.replace('"', "") + '"*' for w in words[:12]) or None


def index_values(entry: IndexEntry) -> list[Any]:
    """The review index row of ``entry``, column by column (:data:`_ROW_COLUMNS`): what is written and what a check
    of the index recomputes."""
    f = entry.facts
    state = {"accept": "accepted", "override": "overridden"}.get(f.review_action or "", UNREVIEWED)
    return [
        f.seq,
        f.record_id,
        f.started_at,
        f.use_case,
        f.operator,
        int(f.sealed),
        state,
        f.reviewer,
        f.reviewed_at,
        f.first_reviewed_at,
        f.replay_verdict or NOT_REPLAYED,
        f.decision,
        len(f.open_findings),
        entry.rank,
        json.dumps(entry.reasons, ensure_ascii=False),
        f.label_mass,
        json.dumps(f.key_fields, ensure_ascii=False),
        f.assignee,
    ]


def reason_rows(entry: IndexEntry) -> list[tuple[str, int, str, int]]:
    if entry.rank is None:
        return []
    return [(reason, entry.rank, entry.facts.started_at, entry.facts.seq) for reason, _ in entry.reasons]


INDEX_COLUMNS = _ROW_COLUMNS


class ReviewIndexRepository:
    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    def exists(self) -> bool:
        return self.db[INDEX].exists()

    # -- keeping it current ------------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        if not self.db[META].exists():
            return None
        row = self.db.execute(f"SELECT value FROM {META} WHERE key = ?", [key]).fetchone()
        return row[0] if row else None

    def last_event(self) -> int:
        if not self.db["events"].exists():
            return 0
        return int(self.db.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0])

    def touched_since(self, seq: int) -> list[str]:
        """Ids of the records an event after ``seq`` is about (their state may have changed)."""
        return touched_since(self.db, seq)

    def facts(self, record_ids: list[str] | None) -> Iterator[RecordFacts]:
        """The facts of these records (None: of every record), read in bulk."""
        return record_facts(self.db, record_ids)

    def write(self, entries: Iterable[IndexEntry], up_to: int, rules: str, *, rebuild: bool = False) -> int:
        """Replace these records' rows (``rebuild``: every row) and set the mark to event ``up_to``; rows written."""
        written = 0
        with atomic(self.db.conn) as conn:
            if rebuild:
                conn.execute(f"DELETE FROM {INDEX}")
                conn.execute(f"DELETE FROM {REASONS}")
                conn.execute(f"INSERT INTO {TEXT}({TEXT}) VALUES ('delete-all')")
            for entry in entries:
                f = entry.facts
                if not rebuild:
                    old = conn.execute(f"SELECT 1 FROM {INDEX} WHERE seq = ?", [f.seq]).fetchone()
                    conn.execute(f"DELETE FROM {INDEX} WHERE seq = ?", [f.seq])
                    conn.execute(f"DELETE FROM {REASONS} WHERE record_seq = ?", [f.seq])
                    if old is not None and not f.sealed:
                        conn.execute(
                            f"INSERT INTO {TEXT}({TEXT}, rowid, prompt, output_text) "
                            "SELECT 'delete', seq, prompt, output_text FROM generations WHERE seq = ?",
                            [f.seq],
                        )
                conn.execute(
                    f"INSERT INTO {INDEX} ({', '.join(_ROW_COLUMNS)}) VALUES ({', '.join('?' for _ in _ROW_COLUMNS)})",
                    index_values(entry),
                )
                if entry.rank is not None:
                    conn.executemany(
                        f"INSERT OR IGNORE INTO {REASONS} (reason, rank, started_at, record_seq) VALUES (?, ?, ?, ?)",
                        reason_rows(entry),
                    )
                if not f.sealed:
                    conn.execute(
                        f"INSERT INTO {TEXT}(rowid, prompt, output_text) SELECT seq, prompt, output_text FROM generations WHERE seq = ?",
                        [f.seq],
                    )
                written += 1
            for key, value in (("event_seq", str(up_to)), ("rules", rules), ("layout", LAYOUT)):
                conn.execute(f"INSERT OR REPLACE INTO {META} (key, value) VALUES (?, ?)", [key, value])
        return written

    # -- reading ---------------------------------------------------------------------------------------
    def stored_rows(self) -> dict[str, tuple[Any, ...]]:
        """record id -> its index row as stored (for checking it against the evidence)."""
        if not self.exists():
            return {}
        return {row[1]: tuple(row) for row in self.db.execute(f"SELECT {', '.join(_ROW_COLUMNS)} FROM {INDEX}")}

    def stored_reasons(self) -> set[tuple[str, int, str, int]]:
        if not self.db[REASONS].exists():
            return set()
        return {tuple(row) for row in self.db.execute(f"SELECT reason, rank, started_at, record_seq FROM {REASONS}")}

    def queue(
        self, *, reason: str | None, limit: int, offset: int, assignee: str | None = None
    ) -> tuple[list[IndexRow], int]:
        """A page of the queue (``assignee``: only their records), most urgent first (then oldest first),
        and how many records it holds."""
        columns = ", ".join(f"i.{c}" for c in _ROW_COLUMNS)
        mine, extra = (" AND i.assignee = ?", [assignee]) if assignee is not None else ("", [])
        if reason is None:
            where = f"WHERE i.rank IS NOT NULL{mine}"
            total = self.db.execute(f"SELECT COUNT(*) FROM {INDEX} i {where}", extra).fetchone()[0]
            rows = self.db.execute(
                f"SELECT {columns} FROM {INDEX} i {where} ORDER BY i.rank, i.started_at, i.seq LIMIT ? OFFSET ?",
                [*extra, limit, offset],
            ).fetchall()
        else:
            source = f"{REASONS} r JOIN {INDEX} i ON i.seq = r.record_seq WHERE r.reason = ?{mine}"
            total = self.db.execute(f"SELECT COUNT(*) FROM {source}", [reason, *extra]).fetchone()[0]
            rows = self.db.execute(
                f"SELECT {columns} FROM {source} ORDER BY r.rank, r.started_at, r.record_seq LIMIT ? OFFSET ?",
                [reason, *extra, limit, offset],
            ).fetchall()
        return [_index_row(r) for r in rows], int(total)

    def reason_counts(self) -> dict[str, int]:
        return dict(self.db.execute(f"SELECT reason, COUNT(*) FROM {REASONS} GROUP BY reason").fetchall())

    def records(self, filters: RecordFilter, *, limit: int, offset: int) -> tuple[list[IndexRow], int]:
        """A page of the records matching ``filters``, newest first, and how many match."""
        clauses, params = [], []
        for column, value in (
            ("use_case", filters.use_case),
            ("operator", filters.operator),
            ("decision", filters.decision),
            ("review_state", filters.review_state),
            ("replay_verdict", filters.replay_verdict),
            ("assignee", filters.assignee),
        ):
            if value:
                clauses.append(f"i.{column} = ?")
                params.append(value)
        if filters.since:
            clauses.append("i.started_at >= ?")
            params.append(filters.since)
        if filters.until:
            clauses.append("i.started_at < ?")
            params.append(filters.until)
        match = fts_query(filters.text) if filters.text else None
        if filters.text and match is None:
            return [], 0
        if match:
            clauses.append(f"i.seq IN (SELECT rowid FROM {TEXT} WHERE {TEXT} MATCH ?)")
            params.append(match)
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        total = self.db.execute(f"SELECT COUNT(*) FROM {INDEX} i{where}", params).fetchone()[0]
        columns = ", ".join(f"i.{c}" for c in _ROW_COLUMNS)
        rows = self.db.execute(
            f"SELECT {columns} FROM {INDEX} i{where} ORDER BY i.started_at DESC, i.seq DESC LIMIT ? OFFSET ?",
            [*params, limit, offset],
        ).fetchall()
        return [_index_row(r) for r in rows], int(total)

    def get(self, record_id: str) -> IndexRow | None:
        row = self.db.execute(
            f"SELECT {', '.join(_ROW_COLUMNS)} FROM {INDEX} WHERE record_id = ?", [record_id]
        ).fetchone()
        return _index_row(row) if row else None

    def choices(self) -> dict[str, list[str]]:
        """The distinct values of the list's select filters, for the filter form."""
        out = {}
        for column in ("use_case", "operator", "decision", "replay_verdict"):
            rows = self.db.execute(
                f"SELECT DISTINCT {column} FROM {INDEX} WHERE {column} IS NOT NULL ORDER BY {column} LIMIT 200"
            ).fetchall()
            out[column] = [r[0] for r in rows]
        return out
