"""Witnesses (C2SP tlog-cosignature/v1): a witness cosigns only an extension of what it cosigned, and a log
rolled back or truncated below a witnessed checkpoint fails ``verify --witnesses``.

Cosignatures are checked here independently of :mod:`audit.integrity.cosignature`: recomputed with
``cryptography`` from the spec's message format (``cosignature/v1\\ntime <t>\\n`` + body) and key hash
(SHA-256(name || 0x0A || 0x04 || key)[:4]).
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_private_key

from audit import Auditor
from audit.integrity.merkle import MerkleTree, leaf_of
from audit.integrity.note import checkpoint_body, sign_note
from audit.integrity.signing import create_key
from audit.integrity.witness import Proof, Witness, WitnessRefusal
from audit.store import AuditStore
from tests.conftest import run_cli_in_process as cli
from tests.forge import backup, rechain, rewrite_event, shell

pytestmark = pytest.mark.usefixtures("single_thread")

ORIGIN = "llm-audit/0123456789abcdef0123456789abcdef"
LEAVES = [leaf_of(bytes([i])) for i in range(12)]


@pytest.fixture
def log_key(tmp_path):
    return create_key(tmp_path / "log.key.pem")


@pytest.fixture
def witness(tmp_path, log_key) -> Witness:
    made = Witness.init(tmp_path / "witness", "internal-audit.example/w1")
    made.trust(ORIGIN, log_key)
    return made


def note_of(size: int, key, leaves=LEAVES) -> str:
    return sign_note(checkpoint_body(ORIGIN, size, MerkleTree(leaves).root(size)), ORIGIN, key)


def proof(old: int, new: int, leaves=LEAVES) -> Proof:
    return Proof(old, MerkleTree(leaves).consistency_proof(old, new) if old else [])


def independent_check(cosigned: str, witness_dir: Path, name: str) -> int:
    """Verify the witness's line from the spec alone; return its timestamp."""
    private = load_pem_private_key((witness_dir / "witness.key.pem").read_bytes(), None)
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    body = cosigned[: cosigned.index("\n\n") + 1]
    line = [x for x in cosigned.splitlines() if x.startswith(f"\u2014 {name} ")][-1]
    raw = base64.b64decode(line.split(" ")[2])
    assert len(raw) == 4 + 8 + 64
    assert raw[:4] == hashlib.sha256(name.encode() + b"\n\x04" + public).digest()[:4]
    timestamp = int.from_bytes(raw[4:12], "big")
    Ed25519PublicKey.from_public_bytes(public).verify(
        raw[12:], f"cosignature/v1\ntime {timestamp}\n".encode() + body.encode()
    )
    return timestamp


def test_cosigns_an_extension_with_a_valid_proof_and_the_line_verifies_independently(witness, log_key):
    first = witness.cosign(note_of(5, log_key), proof(0, 5), now=1_700_000_000)
    assert independent_check(first, witness.folder, witness.name) == 1_700_000_000
    grown = witness.cosign(note_of(12, log_key), proof(5, 12), now=1_700_000_100)
    assert independent_check(grown, witness.folder, witness.name) == 1_700_000_100
    assert witness.last(ORIGIN).tree_size == 12
    same = witness.cosign(note_of(12, log_key), proof(12, 12))  # equal size, same root: cosigned again
    assert same.startswith(note_of(12, log_key).rstrip("\n"))


def test_refuses_a_rollback(witness, log_key):
    witness.cosign(note_of(9, log_key), proof(0, 9))
    for size in (1, 8):
        with pytest.raises(WitnessRefusal, match="rollback: .* already cosigned size 9"):
            witness.cosign(note_of(size, log_key), proof(size, size))
    assert witness.last(ORIGIN).tree_size == 9  # state unchanged


def test_refuses_a_fork(witness, log_key):
    witness.cosign(note_of(6, log_key), proof(0, 6))
    forked = LEAVES[:4] + [leaf_of(b"forged")] + LEAVES[5:]  # seq 5 rewritten: another root at every larger size
    for new in (6, 10):
        with pytest.raises(WitnessRefusal, match="fork"):
            witness.cosign(note_of(new, log_key, forked), proof(6, new, forked) if new > 6 else Proof(6, []))
    with pytest.raises(WitnessRefusal, match="fork"):  # the true proof does not rescue a forked root
        witness.cosign(note_of(10, log_key, forked), proof(6, 10))
    assert witness.last(ORIGIN).tree_size == 6


def test_refuses_an_unknown_log_key_or_origin(witness, tmp_path):
    stranger = create_key(tmp_path / "stranger.pem")
    with pytest.raises(WitnessRefusal, match="not signed by the key of log"):
        witness.cosign(note_of(3, stranger), proof(0, 3))
    other = sign_note(checkpoint_body("llm-audit/other", 3, MerkleTree(LEAVES).root(3)), "llm-audit/other", stranger)
    with pytest.raises(WitnessRefusal, match="was not told the key"):
        witness.cosign(other, proof(0, 3))
    assert witness.last(ORIGIN) is None


def test_cli_cosign_over_files(witness, log_key, tmp_path):
    (tmp_path / "n").write_text(note_of(4, log_key))
    (tmp_path / "p").write_text(proof(0, 4).text())
    done = cli("witness", "cosign", "--dir", str(witness.folder), str(tmp_path / "n"), "--proof", str(tmp_path / "p"))
    assert done.returncode == 0
    independent_check(done.stdout, witness.folder, witness.name)
    (tmp_path / "n").write_text(note_of(2, log_key))
    (tmp_path / "p").write_text(Proof(2, []).text())
    refused = cli(
        "witness", "cosign", "--dir", str(witness.folder), str(tmp_path / "n"), "--proof", str(tmp_path / "p")
    )
    assert refused.returncode == 1 and "rollback" in refused.stderr


@pytest.fixture
def witnessed_log(tiny_loaded, tmp_path, monkeypatch, private_trust_file):
    monkeypatch.setenv("LLM_AUDIT_CHECKPOINT_EVERY", "0")
    db = tmp_path / "audit.db"
    auditor = Auditor(db=db, model=tiny_loaded)
    public = auditor.signing.write_public(tmp_path / "audit.pub.pem")
    record = auditor.generate(prompt="Income 42000, score 580. Approve?", max_new_tokens=2)
    (tmp_path / "record_id").write_text(record.id)
    auditor.checkpoint()
    early = backup(db, tmp_path / "early.db")
    folder = tmp_path / "w"
    init = cli("witness", "init", "--name", "internal-audit.example/w1", "--dir", str(folder))
    assert init.returncode == 0 and "internal-audit.example/w1+" in init.stdout
    with AuditStore.open(db) as store:
        origin = str(store.events.origin())
    trust = cli("witness", "trust", "--dir", str(folder), "--origin", origin, "--key", str(public))
    assert trust.returncode == 0, trust.stdout
    first = cli("checkpoint", "--db", str(db), "--witness", str(folder))
    assert first.returncode == 0, first.stdout + first.stderr
    auditor.generate(prompt="Income 90000, score 720. Approve?", max_new_tokens=2)
    second = cli("checkpoint", "--db", str(db), "--witness", str(folder))
    assert second.returncode == 0 and "proven to extend size" in second.stdout, second.stdout + second.stderr
    size = Witness(folder).last(origin).tree_size
    return db, early, folder, size


def test_untruncated_log_verifies_with_one_witness(witnessed_log):
    db, _, folder, size = witnessed_log
    done = cli("verify", "--db", str(db), "--witnesses", "1", "--witness-key", str(folder / "witness.vkey"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"witnessed up to seq {size} by internal-audit.example/w1" in done.stdout


def test_rolled_back_log_is_caught_by_the_witness(witnessed_log):
    db, early, folder, size = witnessed_log
    events = Auditor(db=early).verify().events
    shutil.copyfile(early, db)  # the writer restores an older copy; <db>.witnessed/ stays where it was
    done = cli("verify", "--db", str(db), "--witnesses", "1", "--witness-key", str(folder / "witness.vkey"))
    assert done.returncode == 1
    assert done.stdout.startswith(
        f"TAMPERED: seq {events + 1}: the log has {events} events but witness internal-audit.example/w1 cosigned size {size}"
    ), done.stdout
    # the witness itself refuses to cosign the shorter log
    again = cli("checkpoint", "--db", str(db), "--witness", str(folder))
    assert again.returncode == 2 and f"cosigned size {size}" in again.stderr


def test_deleting_the_witnessed_notes_too_fails_the_required_count(witnessed_log):
    db, early, folder, _ = witnessed_log
    shutil.copyfile(early, db)
    shutil.rmtree(str(db) + ".witnessed")
    done = cli("verify", "--db", str(db), "--witnesses", "1", "--witness-key", str(folder / "witness.vkey"))
    assert done.returncode == 1 and "nothing proves it was not truncated" in done.stdout
    assert done.stdout.startswith("NOT PROVEN: ")  # a requirement not met is not proof of alteration
    plain = cli("verify", "--db", str(db), "--witness-key", str(folder / "witness.vkey"))
    assert plain.returncode == 0 and "no witness has cosigned this log" in plain.stdout


def test_the_dossier_states_the_newest_witnessed_size_or_that_none_cosigned(witnessed_log, tmp_path, monkeypatch):
    db, _, folder, size = witnessed_log
    record_id = (tmp_path / "record_id").read_text()
    plain = Auditor(db=db).report([record_id], tmp_path / "plain.html", generated_at="2026-03-06T10:00:00Z")
    assert "No witness has cosigned this log" in plain.path.read_text()
    monkeypatch.setenv("LLM_AUDIT_WITNESS_KEYS", str(folder / "witness.vkey"))
    seen = Auditor(db=db).report([record_id], tmp_path / "seen.html", generated_at="2026-03-06T10:00:00Z")
    text = seen.path.read_text()
    assert f"Witness internal-audit.example/w1 cosigned the log up to seq {size}" in text
    assert "No witness has cosigned" not in text
    summary = Auditor(db=db).report([], tmp_path / "summary.html", generated_at="2026-03-06T10:00:00Z")
    assert f"Witness internal-audit.example/w1 cosigned the log up to seq {size}" in summary.path.read_text()


def test_the_witness_over_http(witnessed_log, tmp_path):
    from audit.web.background import BackgroundServer
    from audit.web.witness import witness_app

    db, early, folder, size = witnessed_log
    with BackgroundServer(witness_app(folder)) as server:
        grown = cli("checkpoint", "--db", str(db), "--witness", server.url, "--json")
        assert grown.returncode == 0, grown.stdout + grown.stderr
        witnessed = json.loads(grown.stdout)["witnessed"]
        assert witnessed["old_size"] == size and witnessed["tree_size"] > size
        assert witnessed["witness"] == "internal-audit.example/w1"
        independent_check(Path(witnessed["note"]).read_text(), folder, "internal-audit.example/w1")
        body = (
            Proof(0, []).text() + "\n" + Path(witnessed["note"]).read_text()
        )  # a proof from another size than it cosigned
        refused = httpx.post(f"{server.url}/add-checkpoint", content=body)
        assert refused.status_code == 409 and refused.json()["last_size"] == witnessed["tree_size"]
        assert httpx.post(f"{server.url}/add-checkpoint", content="nonsense").status_code == 400
        shutil.copyfile(early, db)
        rolled = cli("checkpoint", "--db", str(db), "--witness", server.url)
        assert rolled.returncode == 2 and f"cosigned size {witnessed['tree_size']}" in rolled.stderr


def test_every_truncation_below_the_witnessed_size_is_named(witnessed_log, tmp_path):
    """Every prefix shorter than the witnessed size, cut with the guards dropped (newest checkpoints removed too)."""
    db, _, folder, size = witnessed_log
    for kept in range(1, size):
        cut = backup(db, tmp_path / f"cut{kept}.db")
        shutil.copytree(str(db) + ".witnessed", str(cut) + ".witnessed")
        shell(cut, f"DELETE FROM events WHERE seq > {kept}", f"DELETE FROM checkpoints WHERE tree_size > {kept}")
        done = cli("verify", "--db", str(cut), "--witnesses", "1", "--witness-key", str(folder / "witness.vkey"))
        assert done.returncode == 1
        assert f"the log has {kept} events but witness internal-audit.example/w1 cosigned size {size}" in done.stdout


@pytest.mark.parametrize("seq", [1, 2, 4])
def test_a_history_rewritten_and_rechained_under_a_witnessed_checkpoint_is_named(witnessed_log, seq):
    db, _, folder, size = witnessed_log
    rewrite_event(db, seq, lambda payload: payload.update(forged=True))
    rechain(db)
    done = cli("verify", "--db", str(db), "--witnesses", "1", "--witness-key", str(folder / "witness.vkey"))
    assert done.returncode == 1
    named = (
        "kept beside this database, which is log"  # the first event changed: another origin
        if seq == 1
        else f"the log does not extend the checkpoint of size {size} that witness internal-audit.example/w1 cosigned"
    )
    assert named in done.stdout, done.stdout
