"""Records the proxy answered for survive another process opening and closing the database meanwhile.

SQLite's locks are POSIX advisory locks, which a process loses, all of them, as soon as it closes *any*
descriptor of the database file. A server that opens the file by other means while its connections are open
(a header check before each ``AuditStore.open``: once per key check connection, writer and ``/metrics``
scrape) holds no lock on it afterwards while SQLite believes it does; the next process whose connection
closes (``llm-audit list``, ``verify``, a backup) then finds itself the last one, checkpoints and deletes
the write-ahead log, and every record the server commits after that goes to a log that no longer exists:
answered 200, never stored. Counted here from other processes, against the receipts.
"""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from audit.store.database import _check_file
from audit.web.background import BackgroundServer
from tests.serve.faulty_upstream import FaultyUpstream
from tests.serve.serving import TIMEOUT, proxy

pytestmark = pytest.mark.usefixtures("single_thread")
COUNT = "import sqlite3, sys; print(sqlite3.connect(f'file:{sys.argv[1]}?mode=ro', uri=True).execute('SELECT id FROM generations').fetchall())"


def stored_ids(db) -> set[str]:
    """The record ids another process reads (its connection opened and closed, as any CLI command's is)."""
    out = subprocess.run([sys.executable, "-c", COUNT, str(db)], capture_output=True, text=True, check=True)
    return {row[0] for row in eval(out.stdout)}  # noqa: S307 - a list of 1-tuples of ids printed just above


@pytest.fixture(scope="module")
def upstream():
    faulty = FaultyUpstream()
    with BackgroundServer(faulty.app) as server:
        faulty.url = server.url + "/v1"
        yield faulty


def test_records_answered_survive_another_process_closing_the_database(upstream, tmp_path):
    db = tmp_path / "proxy.db"
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
    with proxy(db, upstream.url) as running:
        receipts = [running.post("/v1/chat/completions", body).json()["llm_audit"]["record_id"]]
        assert httpx.get(running.url + "/metrics", timeout=TIMEOUT).status_code == 200  # a scrape opens a store
        added = subprocess.run(  # an operator adds a key meanwhile: another process writes, and closes its connection
            [sys.executable, "-m", "audit", "keys", "add", "teller-2", "--db", str(db)], capture_output=True, text=True
        )
        assert added.returncode == 0, added.stderr
        for _ in range(5):
            receipts.append(running.post("/v1/chat/completions", body).json()["llm_audit"]["record_id"])
        assert set(receipts) <= stored_ids(db), "answered records that other processes cannot see"
    assert set(receipts) <= stored_ids(db), "answered records lost when the proxy stopped"


def test_the_header_check_keeps_the_processs_locks_where_a_plain_open_drops_them(tmp_path):
    """The mechanism alone: while this process has a connection open, another process that opens and closes the
    database is not the last one and leaves the write-ahead log alone. ``_check_file`` (run before every store is
    opened) keeps it so; a plain ``open()`` and ``close()`` of the file, the way it used to read the header, drops this
    process's locks, and the other process then deletes the log under the open connection (the control: it shows the
    test can see the failure)."""
    import sqlite3

    def holding(db):
        holder = sqlite3.connect(db, isolation_level=None)
        holder.execute("PRAGMA journal_mode=WAL")
        holder.execute("PRAGMA wal_autocheckpoint=0")
        holder.execute("CREATE TABLE t (x)")
        holder.execute("INSERT INTO t VALUES (1)")  # in the log, not yet in the file
        return holder

    touch = "import sqlite3, sys; sqlite3.connect(sys.argv[1]).execute('SELECT COUNT(*) FROM t').fetchall()"
    for name, check, kept in (("checked.db", _check_file, True), ("opened.db", lambda p: open(p, "rb").close(), False)):
        db = tmp_path / name
        holder = holding(db)
        wal = db.with_name(db.name + "-wal")
        try:
            subprocess.run([sys.executable, "-c", touch, str(db)], check=True)
            assert wal.exists() and wal.stat().st_size > 0  # the other process knew it was not the last
            check(db)
            subprocess.run([sys.executable, "-c", touch, str(db)], check=True)
            assert (wal.exists() and wal.stat().st_size > 0) is kept, name
        finally:
            holder.close()
