"""The key apart from the data, the trust file, key rotation, exported checkpoints, automatic checkpoints.

Keys live in a key directory of their own (here under the session's temporary XDG_CONFIG_HOME),
one per database; verification pins the trust file's keys; a key change is a transition signed
by the old key; saved checkpoints are C2SP notes that ``verify --against`` checks with RFC 6962
consistency proofs.
"""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from audit import Auditor
from audit.cli import main
from audit.errors import UserError
from audit.integrity.key_location import default_key_path, key_dir, legacy_key_path, log_key_path
from audit.integrity.signing import create_key, load_key, load_signing_key
from audit.store import AuditStore
from tests.forge import append_event, rechain, rewrite_event


def run(*args: str, env: dict[str, str] | None = None):
    done = CliRunner().invoke(main, list(args), env=env)
    return done


def notes(db: Path, n: int) -> None:
    """``n`` events through the store (no model needed): what any component's append does to the log."""
    with AuditStore.open(db, write=True) as store:
        for i in range(n):
            store.events.append("note", f"n{i}", {"i": i})


@pytest.fixture
def small(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("LLM_AUDIT_CHECKPOINT_EVERY", "0")
    db = tmp_path / "audit.db"
    notes(db, 3)
    Auditor(db=db).checkpoint()
    return db


def _log_key(db: Path) -> Path:
    with AuditStore.open(db) as store:
        return log_key_path(str(store.events.origin()))


def test_default_key_lives_in_its_own_directory_one_per_log(small, tmp_path):
    key = _log_key(small)
    assert key.parent == key_dir() and key.name.startswith("log-") and key.name.endswith(".key")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    assert not legacy_key_path(small).exists() and not list(tmp_path.glob("*.key"))
    other = tmp_path / "sub" / "audit.db"  # same file name, another database: another key
    other.parent.mkdir()
    notes(other, 1)
    Auditor(db=other).checkpoint()
    assert _log_key(other) != key and load_key(_log_key(other)).key_id != load_key(key).key_id
    shown = run("key", "--db", str(small), "--json")
    assert shown.exit_code == 0 and json.loads(shown.stdout)["path"] == str(key)
    assert json.loads(shown.stdout)["key_id"] == load_key(key).key_id


def test_signing_key_from_the_environment_and_its_old_name(tmp_path, monkeypatch):
    for name in ("LLM_AUDIT_SIGNING_KEY", "LLM_AUDIT_KEY"):
        db = tmp_path / f"{name}.db"
        key = create_key(tmp_path / f"{name}.key")
        monkeypatch.setenv(name, str(key.source))
        notes(db, 1)  # each event is signed by the log's key when written: the key is chosen before the first
        assert Auditor(db=db).checkpoint().key_id == key.key_id
        monkeypatch.delenv(name)
    with pytest.raises(UserError, match="is missing but this log is signed by key id"):
        notes(tmp_path / "LLM_AUDIT_KEY.db", 0)
        monkeypatch.setenv("LLM_AUDIT_CHECKPOINT_EVERY", "0")
        Auditor(db=tmp_path / "LLM_AUDIT_KEY.db").checkpoint()  # its key is not in the key directory


def test_a_0_1_key_beside_the_database_keeps_working_with_a_warning_naming_the_move(tmp_path, monkeypatch):
    monkeypatch.setenv("LLM_AUDIT_CHECKPOINT_EVERY", "0")
    db = tmp_path / "old.db"
    legacy = create_key(legacy_key_path(db))
    notes(db, 2)
    done = run("checkpoint", "--db", str(db))
    assert done.exit_code == 0 and legacy.key_id in done.stdout
    warnings = [line for line in done.stderr.splitlines() if line.startswith("Warning:")]
    assert len(warnings) == 1 and warnings[0].startswith("Warning: the signing key ")
    assert "lies beside its database" in warnings[0]
    command = warnings[0].split("move it into the key directory: ")[1]
    subprocess.run(command, shell=True, check=True)
    assert not legacy_key_path(db).exists() and load_key(_log_key(db)).key_id == legacy.key_id
    again = run("checkpoint", "--db", str(db))
    assert again.exit_code == 0 and again.stderr == "" and legacy.key_id in again.stdout


def test_a_moved_or_copied_database_finds_its_key_by_its_log(small, tmp_path):
    key_id = load_key(_log_key(small)).key_id
    copied = tmp_path / "validator-copy.db"
    shutil.copy(small, copied)
    moved = tmp_path / "moved.db"
    shutil.move(small, moved)
    for db in (moved, copied):
        done = run("checkpoint", "--db", str(db))
        assert done.exit_code == 0 and f"by key {key_id}" in done.stdout, done.output
        assert run("verify", "--db", str(db)).exit_code == 0
    assert not default_key_path(moved).exists()  # found by the log, not by the path


def test_a_key_named_after_its_database_path_is_adopted_by_its_log(tmp_path, monkeypatch):
    monkeypatch.setenv("LLM_AUDIT_CHECKPOINT_EVERY", "0")
    db = tmp_path / "old.db"
    notes(db, 2)
    old = create_key(default_key_path(db))  # the 0.2 layout: named after the database's path
    assert Auditor(db=db).checkpoint().key_id == old.key_id
    assert load_key(_log_key(db)).key_id == old.key_id and default_key_path(db).exists()


def test_trust_add_list_remove_pin_verification(small, tmp_path, private_trust_file):
    pub = tmp_path / "pub.pem"
    Auditor(db=small).signing.write_public(pub)
    key_id = load_key(pub).key_id
    with AuditStore.open(small) as store:
        origin = store.events.origin()
    # The log's first checkpoint pinned its key for this log (first use, like SSH).
    assert run("trust", "list").stdout.strip() == f"{key_id}  {origin}  created on this machine for {origin}"
    assert "pinned for log" in run("verify", "--db", str(small)).stdout
    assert run("trust", "remove", key_id[:6]).exit_code == 0
    unpinned = run("verify", "--db", str(small))
    assert unpinned.exit_code == 0 and "UNPINNED" in unpinned.stdout
    assert json.loads(run("verify", "--db", str(small), "--json").stdout)["key_pinned"] is False
    added = run("trust", "add", str(pub), "--name", "pricing-1")
    assert added.exit_code == 0 and f"trusted: key {key_id} (pricing-1)" in added.stdout
    assert "already trusted" in run("trust", "add", str(pub)).stdout
    assert run("trust", "list").stdout.strip() == f"{key_id}  every log it signs  pricing-1"
    pinned = run("verify", "--db", str(small))
    assert pinned.exit_code == 0 and "verified against the pinned key (trust file" in pinned.stdout
    assert "UNPINNED" not in pinned.stdout
    assert run("trust", "remove", key_id[:6]).exit_code == 0 and run("trust", "list").stdout.startswith(
        "no trusted key"
    )
    assert run("trust", "remove", "ffff").exit_code == 2
    private_trust_file.write_text("0123 ed25519 not-base64 x\n")
    broken = run("verify", "--db", str(small))
    assert broken.exit_code == 2 and "line 1" in broken.stderr and broken.stderr.count("\n") == 1


def test_trust_file_beside_the_database_is_flagged(small, tmp_path):
    pub = tmp_path / "pub.pem"
    Auditor(db=small).signing.write_public(pub)
    beside = small.parent / "trusted_keys"
    assert run("trust", "add", str(pub), "--trust-file", str(beside)).exit_code == 0
    done = run("verify", "--db", str(small), "--trust-file", str(beside))
    assert done.exit_code == 0 and "WARNING: the trust file" in done.stdout and "database's folder" in done.stdout


def test_rotation_is_a_transition_signed_by_the_old_key(small, tmp_path):
    old_pub, new_pub = tmp_path / "old.pub.pem", tmp_path / "new.pub.pem"
    Auditor(db=small).signing.write_public(old_pub)
    old_id = load_key(old_pub).key_id
    done = run("rotate-key", "--db", str(small), "--public-key", str(new_pub))
    assert done.exit_code == 0, done.output
    new_id = load_key(new_pub).key_id
    assert f"key {old_id} handed over to {new_id}" in done.stdout
    assert load_key(_log_key(small)).key_id == new_id  # the new key took the log's place
    assert list(key_dir().glob(f"*retired-{old_id}.key"))
    notes(small, 2)
    Auditor(db=small).checkpoint()
    by_old = Auditor(db=small).verify(key=old_pub, require_signed=True)  # pinned to the old key: it vouched for the new
    assert by_old.ok and by_old.pinned_size == by_old.events, by_old.problems
    by_new = Auditor(db=small).verify(key=new_pub)
    assert by_new.ok and by_new.pinned_size == by_new.events and by_new.cover_of(1).key_id == new_id
    refused = run(
        "checkpoint", "--db", str(small), "--signing-key", str(next(key_dir().glob(f"*retired-{old_id}.key")))
    )
    assert refused.exit_code == 2 and "is not this log's signing key" in refused.stderr


def test_checkpoint_refuses_to_sign_a_log_changed_since_its_last_checkpoint(small):
    rewrite_event(small, 2, lambda payload: payload.update(i=99))
    rechain(small)
    before = small.read_bytes()
    with pytest.raises(UserError, match="no longer matches checkpoint 1 .* nothing was signed"):
        Auditor(db=small).checkpoint()
    assert small.read_bytes() == before


def test_automatic_checkpoints_every_n_events_and_after_a_quiet_minute(tmp_path, monkeypatch):
    monkeypatch.setenv("LLM_AUDIT_CHECKPOINT_EVERY", "4")
    db = tmp_path / "auto.db"
    notes(db, 8)
    with AuditStore.open(db) as store:
        sizes = [c.tree_size for c in store.checkpoints.all()]
        assert store.events.count() == 10
    assert sizes == [5, 10]  # 4 uncovered events, then the checkpoint's own event closes the tree
    monkeypatch.setenv("LLM_AUDIT_CHECKPOINT_EVERY", "100")
    from datetime import UTC, datetime, timedelta

    old = (datetime.now(UTC) - timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    key = load_signing_key(_log_key(db))  # logged two minutes ago by its writer (as a quiet serving process would)
    append_event(db, "note", "quiet", {"i": "quiet"}, old, key)
    notes(db, 1)  # the next append signs: the oldest uncovered event is older than a minute
    with AuditStore.open(db) as store:
        assert store.checkpoints.signed_size() == store.events.count() == 13  # old event 11, note 12, checkpoint 13
    assert Auditor(db=db).verify().ok


def test_exported_checkpoint_proves_extension_and_refuses_foreign_or_forged_notes(small, tmp_path):
    note = tmp_path / "saved.checkpoint"
    done = run("checkpoint", "--db", str(small), "--export", str(note))
    assert done.exit_code == 0 and f"wrote {note}" in done.stdout
    notes(small, 3)
    ok = run("verify", "--db", str(small), "--against", str(note))
    assert ok.exit_code == 0 and f"extends the checkpoint saved in {note}" in ok.stdout
    other = tmp_path / "other.db"
    notes(other, 2)
    assert run("verify", "--db", str(other), "--against", str(note)).exit_code == 1  # another log (another origin)
    assert "not of this log" in run("verify", "--db", str(other), "--against", str(note)).stdout
    body, signature = note.read_text().split("\n\n")
    lines = body.split("\n")
    forged = tmp_path / "forged.checkpoint"
    forged.write_text(f"{lines[0]}\n{int(lines[1]) + 1}\n{lines[2]}\n\n{signature}")  # a size the key never signed
    bad = run("verify", "--db", str(small), "--against", str(forged))
    assert bad.exit_code == 1 and "is not signed by a pinned key" in bad.stdout
    garbage = tmp_path / "garbage.checkpoint"
    garbage.write_text("not a note")
    refused = run("verify", "--db", str(small), "--against", str(garbage))
    assert refused.exit_code == 2 and refused.stderr.count("\n") == 1 and "not a signed note" in refused.stderr


def test_batch_command_ends_covered_by_a_checkpoint(tiny_loaded, tmp_path, monkeypatch):
    monkeypatch.setenv("LLM_AUDIT_CHECKPOINT_EVERY", "100")
    auditor = Auditor(db=tmp_path / "batch.db", model=tiny_loaded)
    auditor.generate(prompt="Counterparty rated BB.", max_new_tokens=2)
    summary = auditor.explain_all(method="gradient-x-input", granularity="token")
    assert summary.stored == 1
    result = auditor.verify()
    assert result.ok and result.unsigned_events == 0 and result.events == 3  # generation, explanation, checkpoint


def test_verify_proof_pins_the_trust_file_and_says_when_it_is_unpinned(tiny_loaded, tmp_path, private_trust_file):
    auditor = Auditor(db=tmp_path / "p.db", model=tiny_loaded)
    record = auditor.generate(prompt="Counterparty rated BB.", max_new_tokens=2)
    auditor.checkpoint()  # the log's first checkpoint pins its key for it
    proof = auditor.proof(record.id, tmp_path / "record.proof.json")
    pinned = run("verify-proof", str(proof))
    assert pinned.exit_code == 0 and "verified against the pinned key" in pinned.stdout
    private_trust_file.unlink()
    unpinned = run("verify-proof", str(proof))
    assert unpinned.exit_code == 0 and "UNPINNED" in unpinned.stdout
    stranger = create_key(tmp_path / "stranger.key")
    assert run("trust", "add", stranger.source).exit_code == 0  # a key pin of another log: says nothing of this one
    assert "UNPINNED" in run("verify-proof", str(proof)).stdout
    assert run("trust", "add", stranger.source, "--db", str(tmp_path / "p.db")).exit_code == 0  # pinned to another key
    wrong = run("verify-proof", str(proof))
    assert wrong.exit_code == 1 and "not by a trusted key" in wrong.stdout


def test_verify_proof_after_rotation_follows_the_transition_as_verify_does(tiny_loaded, tmp_path):
    auditor = Auditor(db=tmp_path / "r.db", model=tiny_loaded)
    record = auditor.generate(prompt="Counterparty rated BB.", max_new_tokens=2)
    auditor.checkpoint()
    old_pub = auditor.signing.write_public(tmp_path / "old.pub.pem")
    auditor.signing.rotate()
    proof = auditor.proof(record.id, tmp_path / "record.proof.json")
    assert Auditor(db=tmp_path / "r.db").verify(key=old_pub).ok
    done = run("verify-proof", str(proof), "--key", str(old_pub))
    assert done.exit_code == 0 and "verified against the pinned key" in done.stdout, done.stdout
    doc = json.loads(proof.read_text())
    doc["transitions"][0]["payload"]["new_signature"] = doc["transitions"][0]["payload"]["old_signature"]
    forged = tmp_path / "forged.proof.json"
    forged.write_text(json.dumps(doc))
    refused = run("verify-proof", str(forged), "--key", str(old_pub))
    assert refused.exit_code == 1 and "not by a trusted key" in refused.stdout
