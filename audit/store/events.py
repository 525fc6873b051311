"""The event log: one row per thing that happened to the audit record, in one hash chain.

Only the store appends here: each evidence repository (:mod:`audit.store.evidence`) logs its
row's event in the same transaction as the row, and the privacy repository logs erasures,
holds and releases, which have no table of their own. The payload of an evidence event is the
full content the repository stored (arrays by blob SHA-256), which the repository can rebuild
from its table for verification.

Since v2 each row is a link of the tamper-evident chain (:mod:`audit.integrity.chain`):
the payload is stored as RFC 8785 canonical JSON with its SHA-256, the previous event's
leaf hash and its own leaf hash. After each append, in the same transaction, the store's
checkpoint repository signs a checkpoint when ``$LLM_AUDIT_CHECKPOINT_EVERY`` events (default
10; 0 = only on demand) are not yet covered, or when the oldest of them is older than
``$LLM_AUDIT_CHECKPOINT_SECONDS`` (default 60): a busy log is never more than 10 events, a
quiet one never more than a minute of appends, from a signature. (The hook is given by
:class:`audit.store.AuditStore`, so this module needs nothing of the checkpoints.)
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

from ..clock import utc_iso
from ..integrity.chain import GENESIS, ChainedEvent, event_message, seal
from ..integrity.note import origin_of
from .append_only import append_only
from .database import atomic
from .schema import register

TABLE = "events"
ENV_CHECKPOINT_EVERY = "LLM_AUDIT_CHECKPOINT_EVERY"
ENV_CHECKPOINT_SECONDS = "LLM_AUDIT_CHECKPOINT_SECONDS"
DEFAULT_CHECKPOINT_EVERY = 10
DEFAULT_CHECKPOINT_SECONDS = 60

register(
    "events",
    1,
    "event log",
    f"""CREATE TABLE {TABLE} (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        subject_id TEXT NOT NULL,
        created_at TEXT NOT NULL,
        payload TEXT NOT NULL
    )""",
    f"CREATE INDEX idx_{TABLE}_subject ON {TABLE} (subject_id, kind)",
)

_CHAIN_COLUMNS = "seq, kind, subject_id, created_at, payload, payload_sha256, prev_hash, leaf_hash"


def _chain_existing(conn: sqlite3.Connection) -> None:
    """v1 -> v2: rebuild the table with the chain columns and chain the events already there."""
    conn.execute(f"DROP INDEX IF EXISTS idx_{TABLE}_subject")
    conn.execute(f"ALTER TABLE {TABLE} RENAME TO {TABLE}_v1")
    conn.execute(
        f"""CREATE TABLE {TABLE} (
            seq INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            subject_id TEXT NOT NULL,
            created_at TEXT NOT NULL,
            payload TEXT NOT NULL,
            payload_sha256 TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            leaf_hash TEXT NOT NULL UNIQUE
        )"""
    )
    conn.execute(f"CREATE INDEX idx_{TABLE}_subject ON {TABLE} (subject_id, kind)")
    prev = GENESIS
    old = conn.execute(f"SELECT kind, subject_id, created_at, payload FROM {TABLE}_v1 ORDER BY seq").fetchall()
    for seq, (kind, subject_id, created_at, payload) in enumerate(old, start=1):
        event = seal(seq, prev, kind, subject_id, created_at, json.loads(payload))
        _insert(conn, event)
        prev = bytes.fromhex(event.leaf_hash)
    conn.execute(f"DROP TABLE {TABLE}_v1")


register(
    "events",
    2,
    "hash chain columns (RFC 8785 payload, prev_hash, leaf_hash); append-only",
    _chain_existing,
    *append_only(TABLE),
)


register(
    "events",
    3,
    "covering index of leaf hashes in chain order (checkpoints and proofs read only the index)",
    f"CREATE INDEX IF NOT EXISTS idx_{TABLE}_leaves ON {TABLE} (seq, leaf_hash)",
)


register(
    "events",
    4,
    "writer's signature of each event (Ed25519 over its leaf hash; NULL for events appended before 0.3)",
    f"ALTER TABLE {TABLE} ADD COLUMN signature TEXT",
)


# Key transitions are rare, and the checkpoint rule looks for the latest one at every signing (every 10 events by
# default): without an index that was a scan of the whole log each time (14.8 ms per checkpoint at 10,000 events,
# growing with the log). A partial index holds only them; queries name the kind as a literal so SQLite can use it.
TRANSITION_KIND = "key-transition"
register(
    "events",
    5,
    "partial index of key transitions (the checkpoint rule reads the latest at every signing)",
    f"CREATE INDEX IF NOT EXISTS idx_{TABLE}_transitions ON {TABLE} (seq) WHERE kind = '{TRANSITION_KIND}'",
)


@dataclass
class Event:
    seq: int
    kind: str
    subject_id: str
    created_at: str
    payload: dict[str, Any]


def _insert(conn: sqlite3.Connection, event: ChainedEvent, signature: str | None = None) -> None:
    columns, values = _CHAIN_COLUMNS, list(event)
    if signature is not None:
        columns, values = columns + ", signature", [*values, signature]
    conn.execute(f"INSERT INTO {TABLE} ({columns}) VALUES ({', '.join('?' for _ in values)})", values)


# Events whose payload names a record (``record_id``), indexed by it (partial expression index).
RECORD_EVENT_KINDS = "('explanation', 'attention', 'replay', 'review', 'finding', 'assignment')"
RECORD_EVENTS_INDEX = (
    f"CREATE INDEX IF NOT EXISTS idx_{TABLE}_record ON {TABLE} (json_extract(payload, '$.record_id')) "
    f"WHERE kind IN {RECORD_EVENT_KINDS}"
)


def _setting(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.strip().isdigit() else default


def checkpoint_every() -> int:
    """Sign once this many events are not yet covered (``$LLM_AUDIT_CHECKPOINT_EVERY``; 0: only on demand)."""
    return _setting(ENV_CHECKPOINT_EVERY, DEFAULT_CHECKPOINT_EVERY)


def checkpoint_seconds() -> int:
    """Sign on the next append once the oldest uncovered event is this old (``$LLM_AUDIT_CHECKPOINT_SECONDS``; 0: off)."""
    return _setting(ENV_CHECKPOINT_SECONDS, DEFAULT_CHECKPOINT_SECONDS)


class EventLog:
    """Append to and read the chained event log.

    ``after_append`` (set by :class:`audit.store.AuditStore`) runs inside each append's
    transaction with the new seq: the automatic checkpoint rule.
    """

    def __init__(self, db: sqlite_utils.Database, after_append: Callable[[int], Any] | None = None) -> None:
        self.db = db
        self.after_append = after_append
        self.signer: Callable[[], Any] | None = None  # the log's signing key, for each append (set by AuditStore)
        # seq -> (leaf hash, signature, key id) of the events this connection signed and has not yet seen covered by a
        # checkpoint: the checkpoint need not verify a signature it made itself (a rolled-back or replaced event no
        # longer matches and is verified as usual).
        self.signed_here: dict[int, tuple[str, str, str]] = {}
        self.last_appended: ChainedEvent | None = None  # the event this connection appended last, as inserted

    # -- writing -----------------------------------------------------------------------
    def append(
        self, kind: str, subject_id: str, payload: dict[str, Any], *, auto_checkpoint: bool = True, key: Any = None
    ) -> int:
        """Append one event, signed by the log's key (``key``, else the store's signer); call inside the transaction
        that stores the subject.

        Called outside a transaction it opens its own ``BEGIN IMMEDIATE``, so reading the
        chain's tail and writing the next link can never interleave with another writer.
        """
        with atomic(self.db.conn) as conn:
            key = key if key is not None else (self.signer() if self.signer is not None else None)
            last = conn.execute(f"SELECT seq, leaf_hash FROM {TABLE} ORDER BY seq DESC LIMIT 1").fetchone()
            seq, prev = (1, GENESIS) if last is None else (int(last[0]) + 1, bytes.fromhex(last[1]))
            event = seal(seq, prev, kind, subject_id, utc_iso(), payload, signed=key is not None)
            signature = key.sign(event_message(event.leaf_hash)) if key is not None else None
            _insert(conn, event, signature)
            self.last_appended = event
            if signature is not None:
                self.signed_here[seq] = (event.leaf_hash, signature, key.key_id)
            if auto_checkpoint and self.after_append is not None:
                self.after_append(seq)
        return seq

    def origin(self) -> str | None:
        """The log's identity, its C2SP origin line (``llm-audit/`` + 32 hex of its first leaf); None while empty."""
        if not self.is_chained():
            return None
        row = self.db.execute(f"SELECT leaf_hash FROM {TABLE} WHERE seq = 1").fetchone()
        return origin_of(row[0]) if row else None

    def database_file(self) -> Path | None:
        for _, name, file in self.db.conn.execute("PRAGMA database_list"):
            if name == "main" and file:
                return Path(file)
        return None

    # -- reading -----------------------------------------------------------------------
    def exists(self) -> bool:
        return self.db[TABLE].exists()

    def is_chained(self) -> bool:
        return self.exists() and "leaf_hash" in self.db[TABLE].columns_dict

    def count(self) -> int:
        return int(self.db.execute(f"SELECT COUNT(*) FROM {TABLE}").fetchone()[0]) if self.exists() else 0

    def last_transition(self) -> tuple[int, str] | None:
        """(seq, payload) of the latest key transition, from the partial index (never a scan of the log)."""
        if not self.exists():
            return None
        return self.db.execute(
            f"SELECT seq, payload FROM {TABLE} WHERE kind = '{TRANSITION_KIND}' ORDER BY seq DESC LIMIT 1"
        ).fetchone()

    def leaf_hashes(self, limit: int | None = None, *, after: int = 0) -> list[bytes]:
        """Leaf hashes of the events after seq ``after`` up to seq ``limit`` (None: the last), in order."""
        sql = f"SELECT leaf_hash FROM {TABLE} WHERE seq > ? ORDER BY seq"
        if limit is not None:
            sql += f" LIMIT {max(0, int(limit) - int(after))}"
        return [bytes.fromhex(row[0]) for row in self.db.execute(sql, [int(after)])]

    def iter_chain(self, *, subject_id: str | None = None, kind: str | None = None) -> Iterator[ChainedEvent]:
        """Stored rows as they are (no parsing), oldest first: what verification streams over."""
        clauses = [(c, v) for c, v in (("subject_id = ?", subject_id), ("kind = ?", kind)) if v is not None]
        if kind == TRANSITION_KIND:  # the literal, so that the partial index of transitions serves it
            clauses = [(c, v) for c, v in clauses if c != "kind = ?"] + [(f"kind = '{TRANSITION_KIND}'", None)]
        where = (" WHERE " + " AND ".join(c for c, _ in clauses)) if clauses else ""
        params = [v for _, v in clauses if v is not None]
        rows = self.db.execute(f"SELECT {_CHAIN_COLUMNS} FROM {TABLE}{where} ORDER BY seq", params)
        return (ChainedEvent(*row) for row in rows)

    def has_signatures(self) -> bool:
        return self.exists() and "signature" in self.db[TABLE].columns_dict

    def signatures(self, after: int = 0) -> Iterator[tuple[int, str | None]]:
        """(seq, signature) of every event after seq ``after``, in order (signature None: unsigned, before 0.3)."""
        if not self.has_signatures():
            return (
                (int(row[0]), None)
                for row in self.db.execute(f"SELECT seq FROM {TABLE} WHERE seq > ? ORDER BY seq", [after])
            )
        return (
            (int(r[0]), r[1])
            for r in self.db.execute(f"SELECT seq, signature FROM {TABLE} WHERE seq > ? ORDER BY seq", [after])
        )

    def signature_at(self, seq: int) -> str | None:
        if not self.has_signatures():
            return None
        row = self.db.execute(f"SELECT signature FROM {TABLE} WHERE seq = ?", [seq]).fetchone()
        return row[0] if row else None

    def any_signed(self, up_to: int | None = None) -> bool:
        """Whether any event (up to seq ``up_to``) carries a signature: from then on every event must."""
        if not self.has_signatures():
            return False
        sql = f"SELECT 1 FROM {TABLE} WHERE signature IS NOT NULL" + (" AND seq <= ?" if up_to is not None else "")
        return self.db.execute(sql + " LIMIT 1", [up_to] if up_to is not None else []).fetchone() is not None

    def iter_chain_signed(self) -> Iterator[tuple[ChainedEvent, str | None]]:
        """(event as stored, its writer's signature or None), oldest first: what verification streams over."""
        if not self.has_signatures():
            return ((event, None) for event in self.iter_chain())
        rows = self.db.execute(f"SELECT {_CHAIN_COLUMNS}, signature FROM {TABLE} ORDER BY seq")
        return ((ChainedEvent(*row[:8]), row[8]) for row in rows)

    def at(self, seq: int) -> ChainedEvent:
        """The event at position ``seq`` as stored."""
        row = self.db.execute(f"SELECT {_CHAIN_COLUMNS} FROM {TABLE} WHERE seq = ?", [seq]).fetchone()
        if row is None:
            raise KeyError(seq)
        return ChainedEvent(*row)

    def logged(self, kind: str, subject_id: str) -> ChainedEvent | None:
        """The (first) event of ``kind`` about ``subject_id`` as stored: its seq and payload hash are what reports cite."""
        if not self.exists():
            return None
        row = self.db.execute(
            f"SELECT {_CHAIN_COLUMNS} FROM {TABLE} WHERE subject_id = ? AND kind = ? ORDER BY seq LIMIT 1",
            [subject_id, kind],
        ).fetchone()
        return ChainedEvent(*row) if row else None

    def naming(self, record_id: str) -> list[tuple[str, str]]:
        """(kind, subject) of the events about ``record_id``'s explanations, attention passes, replays,
        sign-offs, findings and assignments (their payload's ``record_id``): what each row was logged as, even if the row
        has since been deleted. Served by the expression index :data:`RECORD_EVENTS_INDEX`."""
        if not self.exists():
            return []
        return self.db.execute(
            f"SELECT kind, subject_id FROM {TABLE} WHERE kind IN {RECORD_EVENT_KINDS} "
            "AND json_extract(payload, '$.record_id') = ? ORDER BY seq",
            [record_id],
        ).fetchall()

    def iter(self, *, subject_id: str | None = None, kind: str | None = None) -> Iterator[Event]:
        if not self.db[TABLE].exists():
            return iter(())
        clauses, params = [], []
        if subject_id is not None:
            clauses.append("subject_id = ?")
            params.append(subject_id)
        if kind is not None:
            clauses.append("kind = ?")
            params.append(kind)
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        rows = self.db.execute(
            f"SELECT seq, kind, subject_id, created_at, payload FROM {TABLE}{where} ORDER BY seq", params
        )
        return (Event(seq, k, s, c, json.loads(p)) for seq, k, s, c, p in rows)


__all__ = ["Event", "EventLog"]
