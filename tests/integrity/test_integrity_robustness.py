"""Concurrency, crashes, bad input and read-only use of the chained log."""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import signal
import sqlite3
import stat
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from audit import Auditor
from audit.cli import main
from audit.errors import UserError
from audit.integrity.key_location import log_key_path
from audit.store import AuditStore

FORK = multiprocessing.get_context("fork")


def _record(db: str, loaded, n: int, tag: str, seqs) -> None:
    """A recording process: forked after the tiny model is loaded, so it costs no import time."""
    torch.set_num_threads(1)  # as DataLoader workers do: the parent's thread pool does not survive fork
    os.environ["LLM_AUDIT_CHECKPOINT_EVERY"] = "3"
    auditor = Auditor(db=db, model=loaded)
    for i in itertools.count() if n == 0 else range(n):
        seqs.put(
            auditor.generate(prompt=f"{tag} case {i}: approve?", max_new_tokens=3, seed=i, tags={"worker": tag}).seq
        )


def test_four_processes_recording_at_once_lose_nothing_and_readers_never_fail(tiny_loaded, tmp_path):
    db = tmp_path / "shared.db"
    seqs = FORK.Queue()
    workers = [FORK.Process(target=_record, args=(str(db), tiny_loaded, 3, f"w{i}", seqs)) for i in range(4)]
    for worker in workers:
        worker.start()
    reads, read_errors = 0, []
    while any(w.is_alive() for w in workers):
        if db.exists():
            try:
                with AuditStore.open(db) as store:
                    store.records.count()
                    store.events.count()
                reads += 1
            except Exception as exc:  # noqa: BLE001 - any reader failure is the finding
                read_errors.append(repr(exc))
        time.sleep(0.02)
    assert [w.exitcode for w in workers] == [0, 0, 0, 0]
    assert sorted(seqs.get(timeout=5) for _ in range(12)) == list(range(1, 13))
    assert read_errors == [] and reads > 0
    result = Auditor(db=db).verify()
    assert result.ok, result.problems
    # 12 generations and, every 3 uncovered events, a checkpoint (each its own event, signing the tree that ends with it)
    assert (result.events, result.projected, result.rows) == (16, 16, 16)
    assert result.checkpoints == 4 and result.signed_size == 16 and result.key_pinned  # pinned at its first checkpoint
    key = log_key_path(result.origin)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    assert not (tmp_path / "shared.db.key").exists()  # never beside the database
    assert {r.tags["worker"] for r in Auditor(db=db).list()} == {"w0", "w1", "w2", "w3"}


def test_sigkill_mid_write_leaves_a_database_that_opens_and_verifies(tiny_loaded, tmp_path):
    db = tmp_path / "crash.db"
    seqs = FORK.Queue()
    worker = FORK.Process(target=_record, args=(str(db), tiny_loaded, 0, "crash", seqs))
    worker.start()
    while seqs.get(timeout=60) < 5:  # let it commit a few records and a checkpoint, then kill it mid-loop
        pass
    time.sleep(0.01)
    os.kill(worker.pid, signal.SIGKILL)
    worker.join()
    assert worker.exitcode == -signal.SIGKILL
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    result = Auditor(db=db).verify()
    assert result.ok, result.problems
    assert result.events >= 5 and result.events == len(Auditor(db=db).list()) + result.checkpoints


@pytest.fixture
def small_db(tiny_loaded, tmp_path) -> Path:
    db = tmp_path / "small.db"
    auditor = Auditor(db=db, model=tiny_loaded)
    auditor.generate(prompt="Counterparty rated BB.", max_new_tokens=3)
    auditor.checkpoint()
    return db


def _snapshot(folder: Path) -> dict[str, bytes]:
    """Every file's bytes, except SQLite's WAL-index/WAL sidecars, which a reader may create (empty)."""
    for wal in folder.glob("*-wal"):
        assert wal.stat().st_size == 0, f"{wal} holds uncheckpointed writes"
    return {
        p.name: p.read_bytes()
        for p in sorted(folder.iterdir())
        if p.is_file() and not p.name.endswith(("-wal", "-shm"))
    }


def test_bad_inputs_one_line_exit_2_nothing_modified(small_db, cli, tmp_path):
    """Each refusal through the real command line (in-process; one real subprocess at the end)."""
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, amount REAL)")
    conn.commit()
    conn.close()
    truncated = tmp_path / "truncated.db"
    data = small_db.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    garbage_key = tmp_path / "garbage.key"
    garbage_key.write_text("not a key\n")
    os.chmod(garbage_key, 0o600)
    stranger = tmp_path / "stranger.key"
    from audit.integrity.signing import create_key

    create_key(stranger)
    before = _snapshot(tmp_path)
    cases = [
        (("verify", "--db", str(other)), "another tool"),
        (("checkpoint", "--db", str(other)), "another tool"),
        (("verify", "--db", str(truncated)), "damaged"),
        (("verify", "--db", str(small_db), "--key", str(garbage_key)), "not a PEM"),
        (("checkpoint", "--db", str(small_db), "--key", str(stranger)), "is not this log's signing key"),
        (("checkpoint", "--db", str(small_db), "--signing-key", str(stranger)), "is not this log's signing key"),
    ]
    for args, expected in cases:
        done = CliRunner().invoke(main, list(args))
        assert done.exit_code == 2, (args, done.output, done.exception)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: ") and expected in lines[0], (args, done.stderr)
    pinned_to_stranger = CliRunner().invoke(main, ["verify", "--db", str(small_db), "--key", str(stranger)])
    assert pinned_to_stranger.exit_code == 1 and pinned_to_stranger.stderr == ""
    assert "no checkpoint of this log is signed by the pinned key" in pinned_to_stranger.stdout  # a swap is a tampering
    real = cli("verify", "--db", str(truncated))
    assert (
        real.returncode == 2
        and real.stderr.count("\n") == 1
        and real.stderr.startswith("Error: ")
        and "damaged" in real.stderr
    )
    assert _snapshot(tmp_path) == before


def test_read_only_database_file_in_writable_folder_verifies_in_wal_mode(small_db):
    with AuditStore.open(small_db) as store:
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    os.chmod(small_db, 0o444)
    try:
        before = small_db.read_bytes()
        result = Auditor(db=small_db).verify()
        assert result.ok and result.events == 2  # the generation and the checkpoint's event
        assert small_db.read_bytes() == before
        if os.geteuid() != 0:  # root may write to any file, so the refusal only exists for users
            with pytest.raises(UserError, match="read-only"):
                Auditor(db=small_db).checkpoint()
    finally:
        os.chmod(small_db, 0o644)


def test_reader_sees_committed_rows_while_a_writer_holds_the_lock(small_db):
    writer = AuditStore.open(small_db, write=True)
    try:
        writer.db.conn.execute("BEGIN IMMEDIATE")
        writer.events.append("note", "x", {"n": 1})
        result = Auditor(db=small_db).verify()  # WAL: the reader neither waits nor sees the uncommitted row
        assert result.ok and result.events == 2
        writer.db.conn.execute("COMMIT")
    finally:
        writer.close()
    assert Auditor(db=small_db).verify().events == 3


def test_foundation_database_is_chained_by_the_migration(tiny_loaded, tmp_path):
    """A v1 event log (before the chain) gets chained in place on the next write."""
    db = tmp_path / "old.db"
    conn = sqlite3.connect(db)
    conn.executescript(
        """
        CREATE TABLE llm_audit_migrations (component TEXT NOT NULL, version INTEGER NOT NULL, description TEXT NOT NULL, applied_at TEXT NOT NULL, PRIMARY KEY (component, version));
        INSERT INTO llm_audit_migrations VALUES ('events', 1, 'event log', '2026-01-01');
        CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, subject_id TEXT NOT NULL, created_at TEXT NOT NULL, payload TEXT NOT NULL);
        INSERT INTO events (kind, subject_id, created_at, payload) VALUES ('note', 'a', '2026-01-01T00:00:00Z', '{"b":2,"a":1.0}');
        INSERT INTO events (kind, subject_id, created_at, payload) VALUES ('note', 'b', '2026-01-01T00:00:01Z', '{"text":"x"}');
        """
    )
    conn.close()
    with pytest.raises(UserError, match="predates the hash chain"):
        Auditor(db=db).verify()
    Auditor(db=db).checkpoint()
    result = Auditor(db=db).verify()
    assert result.ok and result.events == 3 and result.signed_size == 3
    with AuditStore.open(db) as store:
        payloads = [e.payload for e in store.events.iter_chain()]
    assert payloads[:2] == ['{"a":1,"b":2}', '{"text":"x"}'] and '"tree_size":3' in payloads[2]


def test_proof_round_trip_offline_and_tampered_proof(small_db, tmp_path):
    record = Auditor(db=small_db).list()[0]
    out = tmp_path / "proof.json"
    Auditor(db=small_db).checkpoint(key=None)
    Auditor(db=small_db).proof(record.id[:13], out)
    pub = tmp_path / "pub.pem"
    done = CliRunner().invoke(main, ["checkpoint", "--db", str(small_db), "--public-key", str(pub)])
    assert done.exit_code == 0, done.output
    from audit.integrity.proof import read_proof, verify_proof_document
    from audit.integrity.signing import load_key

    doc = read_proof(out)
    assert [e["kind"] for e in doc["events"]] == ["generation"] and doc["record_id"] == record.id
    good = verify_proof_document(doc, load_key(pub))
    assert good.ok and good.key_pinned, good.problems
    doc["events"][0]["payload"]["seed"] = 1
    bad = verify_proof_document(doc, load_key(pub))
    assert not bad.ok and "payload_sha256" in bad.problems[0]
    out.write_text(json.dumps(doc))
    done = CliRunner().invoke(main, ["verify-proof", str(out), "--key", str(pub)])
    assert done.exit_code == 1 and done.stdout.startswith("INVALID: seq 1: payload")
