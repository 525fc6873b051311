"""A database written by llm-audit 0.1.0 still opens, migrates, verifies and reports.

``tests/data/legacy-0.1.db`` was made by the code before the store owned its events (see
``tests/data/make_legacy_db.py``): no append-only triggers on explanations, replays, attention
maps or reports. Opening it for writing applies the new migrations; nothing logged changes, so
its chain still verifies against the key that signed it, and every piece of evidence is found.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from pathlib import Path

import pytest

from audit import Auditor
from audit.store import AuditStore
from audit.store.schema import MIGRATIONS_TABLE

DATA = Path(__file__).resolve().parents[1] / "data"
CREDIT = "01a2330c-1596-7f93-8852-f085f3895e26"
TEXT = "01a2330c-14a9-7ab9-8af7-876e925d9320"
SEALED = "01a2330c-1c9b-7600-b304-df4849d65bdc"


@pytest.fixture
def legacy(tmp_path: Path) -> Path:
    db = tmp_path / "legacy.db"
    shutil.copy(DATA / "legacy-0.1.db", db)
    keys = tmp_path / "legacy.db.keys.json"
    shutil.copy(DATA / "legacy-0.1.keys.json", keys)
    keys.chmod(0o600)
    return db


def _events(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT seq, kind, subject_id, payload_sha256, leaf_hash FROM events ORDER BY seq"
        ).fetchall()


def test_legacy_database_reads_and_verifies_before_any_write(legacy):
    before = hashlib.sha256(legacy.read_bytes()).hexdigest()
    auditor = Auditor(db=legacy)
    assert [r.id for r in auditor.list()] == [TEXT, CREDIT, SEALED]
    assert auditor.verify(key=DATA / "legacy-0.1.pub.pem").ok
    assert hashlib.sha256(legacy.read_bytes()).hexdigest() == before  # reading never migrates


def test_migration_adds_the_append_only_guards_and_keeps_the_log(legacy):
    logged = _events(legacy)
    with AuditStore.open(legacy, write=True):
        pass  # opening for writing applies pending migrations
    assert _events(legacy) == logged
    with sqlite3.connect(legacy) as conn:
        applied = {(c, v) for c, v in conn.execute(f"SELECT component, version FROM {MIGRATIONS_TABLE}")}
        triggers = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
        assert {("explanations", 2), ("replays", 2), ("attention", 2), ("reports", 2)} <= applied
        for table in ("generations", "explanations", "replays", "attention_maps", "reports", "blobs", "events"):
            assert {f"{table}_append_only_update", f"{table}_append_only_delete"} <= triggers, table
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(f"DELETE FROM {table}")
    result = Auditor(db=legacy).verify(key=DATA / "legacy-0.1.pub.pem")
    assert result.ok and result.events == 10 and result.checkpoints == 2 and result.signed_size == 10


def test_migrated_database_finds_its_evidence_and_takes_new_records(legacy, tiny_loaded, tmp_path):
    auditor = Auditor(db=legacy, model=tiny_loaded)
    with AuditStore.open(legacy) as store:
        assert store.explanations.latest(CREDIT, granularity="field").features == ["income", "score"]
        assert store.explanations.latest(TEXT, granularity="token") is not None
        assert store.attention.latest(CREDIT) is not None
        assert store.replays.latest(CREDIT).verdict == "identical"
        assert [h.scope for h in auditor.holds()] == []  # the fixture's hold was released
    sealed = auditor.get(SEALED, clear=True)  # the key store of 0.1.0 still opens its records
    assert sealed.variables["customer_id"] == "C-1"
    added = auditor.generate(prompt="The capital of France is", max_new_tokens=2)
    report = auditor.report([CREDIT], tmp_path / "d.html", generated_at="2026-12-01T00:00:00Z")
    html = report.path.read_text()
    with AuditStore.open(legacy) as store:
        logged = store.events.logged("generation", CREDIT)
    assert logged.payload_sha256 in html  # the dossier cites the hash the 0.1.0 log committed to
    assert added.seq == 4 and Auditor(db=legacy).verify(key=DATA / "legacy-0.1.pub.pem").ok
