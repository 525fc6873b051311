"""The store refuses what is not ours and never alters a database it refuses."""

import hashlib
import sqlite3

import pytest

from audit import Auditor
from audit.errors import UserError
from audit.store import AuditStore
from audit.store.schema import MIGRATIONS_TABLE


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_new_database_is_migrated_and_recognised(tiny_loaded, db_path):
    Auditor(db=db_path, model=tiny_loaded).generate(prompt="Hi", max_new_tokens=1)
    conn = sqlite3.connect(db_path)
    components = dict(conn.execute(f"SELECT component, MAX(version) FROM {MIGRATIONS_TABLE} GROUP BY component"))
    assert {"records", "blobs", "events"} <= set(components)
    assert conn.execute("SELECT COUNT(*) FROM generations").fetchone()[0] == 1


def test_not_sqlite_file_is_refused_unchanged(tiny_loaded, tmp_path):
    bogus = tmp_path / "notes.db"
    bogus.write_text("not a database\n" * 100)
    before = digest(bogus)
    with pytest.raises(UserError, match="is not an SQLite database"):
        Auditor(db=bogus, model=tiny_loaded).generate(prompt="Hi", max_new_tokens=1)
    with pytest.raises(UserError, match="is not an SQLite database"):
        Auditor(db=bogus).list()
    assert digest(bogus) == before


def test_other_tools_database_is_refused_unchanged(tiny_loaded, tmp_path):
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    conn.commit()
    conn.close()
    before = digest(other)
    with pytest.raises(UserError, match="another tool .*customers"):
        Auditor(db=other, model=tiny_loaded).generate(prompt="Hi", max_new_tokens=1)
    assert digest(other) == before


def test_read_only_database_is_refused_unchanged(tiny_loaded, db_path):
    auditor = Auditor(db=db_path, model=tiny_loaded)
    auditor.generate(prompt="Hi", max_new_tokens=1)
    db_path.chmod(0o444)
    try:
        before = digest(db_path)
        with pytest.raises(UserError, match="is read-only"):
            auditor.generate(prompt="Hi again", max_new_tokens=1)
        assert len(auditor.list()) == 1  # reading still works
        assert digest(db_path) == before
    finally:
        db_path.chmod(0o644)


def test_unknown_record_and_missing_database(tiny_loaded, db_path):
    with pytest.raises(UserError, match="no audit database at"):
        Auditor(db=db_path).get("nope")
    assert not db_path.exists()  # reading never creates a database
    record = Auditor(db=db_path, model=tiny_loaded).generate(prompt="Hi", max_new_tokens=1)
    before = digest(db_path)
    with pytest.raises(UserError, match="no record with id 'nope'"):
        Auditor(db=db_path).get("nope")
    assert Auditor(db=db_path).get(record.id[:13]).id == record.id  # unambiguous prefix
    assert digest(db_path) == before


def test_blobs_round_trip_and_deduplicate(db_path):
    import numpy as np

    with AuditStore.open(db_path, write=True) as store:
        array = np.arange(12, dtype=np.float16).reshape(3, 4) / 7
        key = store.blobs.put(array)
        assert store.blobs.put(array.copy()) == key
        restored = store.blobs.get(key)
        assert restored.dtype == np.float16 and restored.shape == (3, 4)
        assert np.array_equal(restored, array)
        assert store.db.execute("SELECT COUNT(*) FROM blobs").fetchone()[0] == 1
        row = store.db.execute("SELECT data FROM blobs").fetchone()
        assert hashlib.sha256(row[0]).hexdigest() == key
