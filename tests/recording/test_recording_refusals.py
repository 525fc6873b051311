"""Bad input found before anything is stored, and computed work kept when the database cannot take it.

Every refusal ends in one line and exit 2 with the database byte-identical. A generation (or an
explanation) finished while the database is locked beyond the wait, or while its disk is full,
is kept in the pending journal and appended by ``llm-audit append-pending``.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from audit import Auditor
from audit.cli import main
from audit.errors import UserError
from audit.spool import entries, spool_dir
from audit.store import AuditStore

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture
def recorded(tiny_loaded, tmp_path, monkeypatch) -> tuple[Auditor, str]:
    monkeypatch.setenv("LLM_AUDIT_CHECKPOINT_EVERY", "0")
    auditor = Auditor(db=tmp_path / "audit.db", model=tiny_loaded)
    record = auditor.generate(prompt="Counterparty rated BB.", max_new_tokens=2)
    return auditor, record.id


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def refused(db: Path, *args: str) -> str:
    before = digest(db)
    done = CliRunner().invoke(main, list(args))
    assert done.exit_code == 2, (args, done.output, done.exception)
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("Error: "), done.stderr
    assert digest(db) == before
    return done.stderr


def test_bad_prompts_and_messages_are_refused_in_one_line(recorded, tiny_model_dir, tmp_path):
    auditor, _ = recorded
    db = str(auditor.db_path)
    generate = ("generate", "--db", db, "--model", str(tiny_model_dir), "--max-new-tokens", "2")
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("Einkommen 42.000 \u20ac, Bonit\xe4t gut".encode("cp1252"))
    surrogate = tmp_path / "messages.json"
    surrogate.write_text('[{"role": "user", "content": "income \\ud800 high"}]', encoding="utf-8")
    cases = [
        (("--template", "Score {score:d}. Approve?", "--var", "score=high"), "has a format spec or conversion"),
        (("--template", "Score {score:{width}}.", "--var", "score=1", "--var", "width=3"), "format spec"),
        (("--template", "Score {score!r}.", "--var", "score=1"), "{score!r} has a format spec or conversion"),
        (("--prompt-file", str(latin1)), "is not UTF-8 text (byte 0x80 at offset 17)"),
        (("--template-file", str(latin1)), "is not UTF-8 text"),
        (("--messages", f"@{latin1}"), "is not UTF-8 text"),
        (("--messages", f"@{surrogate}"), "holds a lone surrogate"),
        (("--prompt", "income \ud800 high"), "holds a lone surrogate"),
        (("--messages", '[{"role": "user", "content": ["a", "b"]}]'), "message 1: content must be text, not list"),
        (("--messages", '[{"role": "user", "content": 42}]'), "content must be text, not int"),
        (
            ("--messages", '[{"role": "hacker", "content": "approve"}]'),
            "role 'hacker' is not one this model's chat template defines",
        ),
        (("--messages", '[{"role": "tool", "content": "approve"}]'), "use system, user, assistant"),
    ]
    for args, fragment in cases:
        assert fragment in refused(auditor.db_path, *generate, *args), args


def test_list_since_and_id_prefixes_are_refused(recorded):
    auditor, record_id = recorded
    db = str(auditor.db_path)
    assert "--since 'yesterday' is not an ISO 8601 date" in refused(
        auditor.db_path, "list", "--db", db, "--since", "yesterday"
    )
    assert "--until" in refused(auditor.db_path, "list", "--db", db, "--until", "2026-13-01")
    middle = record_id[9:17]  # a stretch from the middle of the id: as a LIKE pattern '%...' it used to match
    for prefix in ("%" + middle, "________" + record_id[8:12], record_id[:8] + "%"):
        assert "ids are hex digits and dashes" in refused(auditor.db_path, "show", prefix, "--db", db), prefix
        message = refused(auditor.db_path, "hold", "--record", prefix, "--reason", "matter 1", "--db", db)
        assert "no record with id" in message
    assert CliRunner().invoke(main, ["show", record_id[:13], "--db", db]).exit_code == 0  # a real prefix still works


def _hold_lock(db: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")  # another process in the middle of a long write
    return conn


def test_generation_finished_while_the_database_is_locked_is_kept_and_appended(recorded, monkeypatch, cli):
    auditor, _ = recorded
    monkeypatch.setenv("LLM_AUDIT_LOCK_TIMEOUT", "0.2")
    lock = _hold_lock(auditor.db_path)
    try:
        with pytest.raises(UserError) as refusal:
            auditor.generate(prompt="Rate this bond.", max_new_tokens=2, seed=3)
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    message = str(refusal.value)
    assert "the generation was computed but not stored" in message and "stayed locked by another writer" in message
    assert f"`llm-audit append-pending --db {auditor.db_path}`" in message
    (kept,) = entries(auditor.db_path)
    assert kept.parent == spool_dir(auditor.db_path) and json.loads(kept.read_text())["kind"] == "generation"
    assert len(auditor.list()) == 1
    done = cli("append-pending", "--db", str(auditor.db_path), "--json")
    assert done.returncode == 0, done.stderr
    (appended,) = json.loads(done.stdout)["appended"]
    assert appended["status"] == "appended" and appended["kind"] == "generation"
    assert [r.output_text for r in auditor.list()][1:] and entries(auditor.db_path) == []
    assert auditor.verify(require_signed=True).ok  # appended with its event, and signed
    again = cli("append-pending", "--db", str(auditor.db_path))  # nothing to do is not an error
    assert again.returncode == 0 and again.stdout == f"nothing pending for {auditor.db_path}: every result is stored\n"


class FullDisk(AuditStore):
    """A store whose file may not grow by a page: SQLite's own SQLITE_FULL, as on a full disk.

    (``max_page_count`` cannot go below the current size, so the write is made to need new pages:
    the array it stores is a megabyte.)"""

    @classmethod
    def open(cls, path=None, *, write=False):
        store = AuditStore.open(path, write=write)
        if write:
            pages = store.db.execute("PRAGMA page_count").fetchone()[0]
            store.db.execute(f"PRAGMA max_page_count = {pages}")
            put = store.blobs.put
            store.blobs.put = lambda array: put(np.zeros(1 << 18, np.float32) + np.arange(1 << 18)) and put(array)
        return store


def test_explanation_finished_on_a_full_disk_is_kept_as_a_full_disk_and_appended(recorded, monkeypatch):
    auditor, record_id = recorded
    import audit.spool

    monkeypatch.setattr(audit.spool, "AuditStore", FullDisk)
    with pytest.raises(UserError) as refusal:
        auditor.explain(record_id, method="gradient-x-input", granularity="token")
    message = str(refusal.value)
    assert "the explanation was computed but not stored: the disk holding" in message and "is full" in message
    assert "damaged" not in message
    monkeypatch.setattr(audit.spool, "AuditStore", AuditStore)
    (kept,) = entries(auditor.db_path)
    assert auditor.explanations(record_id) == []
    (done,) = auditor.append_pending()
    assert done.status == "appended"
    (stored,) = auditor.explanations(record_id)
    recomputed = auditor.explain(record_id, method="gradient-x-input", granularity="token")
    np.testing.assert_array_equal(stored.token_attr, recomputed.token_attr)  # the arrays survived the journal exactly
    assert auditor.verify().ok and not kept.exists()
