"""Tampering with a database as someone who can write the file, but holds no signing key, would do it.

The one set of forgery helpers for every test that attacks a database (integrity, merge, review,
decisions, counterfactuals) and for the benchmark that builds large logs fast. Everything here is plain
``sqlite3`` on the file, never the store's API: the store refuses what an attacker does, and a test of
verification must not lean on the code it checks to make its forgeries. Each helper that takes a path
commits and closes its own connection, so what it wrote is on disk for the next ``Auditor`` or process.

What an attacker can do, and the helper for it:

* drop the append-only guards (triggers are an accident guard, not a defence): :func:`drop_guards`,
  and :func:`shell` (an administrator's SQLite shell: guards dropped, then any statements);
* rewrite rows and events: :func:`clone_row` (a row with no event), :func:`rewrite_event` (a payload
  changed, hashes left stale), :func:`renumber_events` (gaps closed after deletions);
* recompute the hash chain, the strongest edit without the key: :func:`rechain` from any seq;
* forge well-formed events: :func:`append_event` (linked to the tail), :func:`insert_events` (sealed rows
  as they are), :func:`link` (an event from payload text that is already canonical);
* sign with a key of their own: :func:`resign` (existing checkpoints), :func:`sign_checkpoint` (a new one).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from audit.integrity import merkle
from audit.integrity.chain import GENESIS, ChainedEvent, event_message, header_sha256, leaf_hash, seal
from audit.integrity.signing import checkpoint_message

FORGED_AT = "2026-03-05T09:00:00.000000Z"  # the created_at of forged events unless a test names one
FORGED_ID = "01a2fffe-0000-7000-8000-00000000beef"  # a well-formed UUIDv7 for a cloned row
EVENT_COLUMNS = ChainedEvent._fields  # the events table's columns, in the order a stored row has them


def drop_guards(conn: sqlite3.Connection) -> None:
    """Drop every trigger: the append-only guards stop mistakes, and anyone with the file can drop them."""
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'").fetchall():
        conn.execute(f"DROP TRIGGER {name}")


@contextmanager
def opened(db: Path, *, guards: bool = False) -> Iterator[sqlite3.Connection]:
    """A connection to ``db`` with its guards dropped (``guards=True`` keeps them); committed and closed after."""
    conn = sqlite3.connect(db)
    try:
        if not guards:
            drop_guards(conn)
        yield conn
        conn.commit()
    finally:
        conn.close()


def shell(db: Path, *statements: str, params: list | None = None) -> None:
    """An administrator's SQLite shell: drop every guard, then run the statements (``params`` go to those with ``?``)."""
    with opened(db) as conn:
        for statement in statements:
            conn.execute(statement, (params or []) if "?" in statement else [])


def rows(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    """What a query over the file returns (reading needs no forgery, but every attack starts by looking)."""
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, params or []).fetchall()
    finally:
        conn.close()


def backup(source: Path, target: Path) -> Path:
    """A consistent copy of a WAL database (what ``cp`` of the file alone would not give); returns ``target``."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    return target


def clone_row(db: Path, table: str, where: str, changes: str = "", new_id: str = FORGED_ID) -> str:
    """Insert a copy of the first row of ``table`` matching ``where`` with a new id and ``changes`` (SQL ``SET``
    assignments) applied, and no event; returns the new id."""
    shell(
        db,
        f"CREATE TEMP TABLE t AS SELECT * FROM {table} WHERE {where} LIMIT 1",
        f"UPDATE t SET seq = NULL, id = '{new_id}'" + (f", {changes}" if changes else ""),
        f"INSERT INTO {table} SELECT * FROM t",
    )
    return new_id


def rewrite_event(db: Path, seq: int, change: Callable[[dict[str, Any]], Any]) -> None:
    """Rewrite the payload of event ``seq`` with ``change`` (which edits the dict in place); its hashes go stale
    until :func:`rechain`."""
    with opened(db) as conn:
        payload = json.loads(conn.execute("SELECT payload FROM events WHERE seq = ?", [seq]).fetchone()[0])
        change(payload)
        conn.execute("UPDATE events SET payload = ? WHERE seq = ?", [json.dumps(payload), seq])


def renumber_events(db: Path) -> None:
    """Close the gaps that deleted events left: seq 1, 2, 3, ... in the order they stand."""
    with opened(db) as conn:
        for new, (old,) in enumerate(conn.execute("SELECT seq FROM events ORDER BY seq").fetchall(), start=1):
            conn.execute("UPDATE events SET seq = ? WHERE seq = ?", [new, old])


def rechain(db: Path, start: int = 1) -> None:
    """The strongest attacker without the key: recompute every hash from seq ``start`` on."""
    with opened(db) as conn:
        events = conn.execute(
            "SELECT seq, kind, subject_id, created_at, payload, signature IS NOT NULL FROM events WHERE seq >= ? "
            "ORDER BY seq",
            [start],
        ).fetchall()
        before = conn.execute("SELECT leaf_hash FROM events WHERE seq = ?", [start - 1]).fetchone()
        prev = bytes.fromhex(before[0]) if before else GENESIS
        for seq, kind, subject, created, payload, signed in events:  # the writers' signatures stay: no key to redo them
            event = seal(seq, prev, kind, subject, created, json.loads(payload), signed=bool(signed))
            conn.execute(
                "UPDATE events SET payload=?, payload_sha256=?, prev_hash=?, leaf_hash=? WHERE seq=?",
                [event.payload, event.payload_sha256, event.prev_hash, event.leaf_hash, seq],
            )
            prev = bytes.fromhex(event.leaf_hash)


def link(
    seq: int, prev: bytes, kind: str, subject_id: str, created_at: str, payload: str, signed: bool = False
) -> ChainedEvent:
    """The event at ``seq`` after leaf ``prev`` for ``payload`` text that is already canonical (RFC 8785): what
    :func:`audit.integrity.chain.seal` gives for its parsed value, without canonicalising it again (``signed``: the
    leaf of an event that carries its writer's signature, :func:`signature_of`)."""
    digest = hashlib.sha256(payload.encode()).digest()
    leaf = leaf_hash(seq, prev, digest, header_sha256(kind, subject_id, created_at), signed)
    return ChainedEvent(seq, kind, subject_id, created_at, payload, digest.hex(), prev.hex(), leaf.hex())


def signature_of(event: ChainedEvent, key) -> str:
    """The writer's signature of ``event`` with ``key`` (what the store writes with the log's key on append)."""
    return key.sign(event_message(event.leaf_hash))


def insert_events(target: Path | sqlite3.Connection, events: Iterable[ChainedEvent], key=None) -> None:
    """Write sealed events as rows, as they are (a connection: inside the caller's transaction, not committed);
    ``key``: each signed by it, as the writer holding the log's key does (seal them with ``signed=True``)."""
    columns = [*EVENT_COLUMNS, "signature"] if key is not None else list(EVENT_COLUMNS)
    sql = f"INSERT INTO events ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
    rows_ = ((*e, signature_of(e, key)) for e in events) if key is not None else events
    if isinstance(target, sqlite3.Connection):
        target.executemany(sql, rows_)
        return
    with opened(target, guards=True) as conn:  # inserting is what the guards allow
        conn.executemany(sql, rows_)


def append_event(db: Path, kind: str, subject_id: str, payload: dict, created_at: str = FORGED_AT, key=None) -> int:
    """A well-formed event linked to the chain's tail, as the attacker can compute it (without the log's key; with
    ``key``: as its writer, signed); returns its seq."""
    ((seq, last),) = rows(db, "SELECT seq, leaf_hash FROM events ORDER BY seq DESC LIMIT 1")
    event = seal(seq + 1, bytes.fromhex(last), kind, subject_id, created_at, payload, signed=key is not None)
    insert_events(db, [event], key)
    return seq + 1


def _leaves(conn: sqlite3.Connection) -> list[bytes]:
    return [bytes.fromhex(r[0]) for r in conn.execute("SELECT leaf_hash FROM events ORDER BY seq")]


def sign_checkpoint(db: Path, key, signed_at: str, size: int | None = None) -> str:
    """A new checkpoint row over the first ``size`` events (all by default), signed with the attacker's ``key``,
    and no event for it; returns its root (hex)."""
    with opened(db) as conn:
        leaves = _leaves(conn)[:size]
        root = merkle.root(leaves).hex()
        conn.execute(
            "INSERT INTO checkpoints (tree_size, root_hash, signed_at, key_id, public_key, signature) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                len(leaves),
                root,
                signed_at,
                key.key_id,
                key.raw.hex(),
                key.sign(checkpoint_message(len(leaves), root, signed_at)),
            ],
        )
    return root


def resign(db: Path, key, ids: list[int] | None = None) -> None:
    """Re-sign checkpoint rows (``ids``, default all) with ``key``: their events' key fields first, the chain
    rebuilt, then new roots and signatures."""
    shell(
        db,
        "UPDATE events SET payload = json_set(json_set(payload, '$.key_id', ?), '$.public_key', ?) "
        "WHERE kind = 'checkpoint'"
        + ("" if ids is None else f" AND subject_id IN ({','.join(repr(str(i)) for i in ids)})"),
        params=[key.key_id, key.raw.hex()],
    )
    rechain(db)
    with opened(db) as conn:
        leaves = _leaves(conn)
        for cp_id, size, signed_at in conn.execute("SELECT id, tree_size, signed_at FROM checkpoints").fetchall():
            if ids is not None and cp_id not in ids:
                continue
            root = merkle.root(leaves[:size]).hex()
            signature = key.sign(checkpoint_message(size, root, signed_at))
            conn.execute(
                "UPDATE checkpoints SET root_hash=?, key_id=?, public_key=?, signature=? WHERE id=?",
                [root, key.key_id, key.raw.hex(), signature, cp_id],
            )
