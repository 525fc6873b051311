"""Attacks by someone who can write the database file, done with plain ``sqlite3`` on a copy of a real one.

The database is recorded once by the package itself (two generations, explanations of both,
an attention analysis, a replay, an issued report, automatic and manual checkpoints, a
checkpoint exported as a C2SP note). Each test copies it, drops the append-only triggers
where the attack needs to, tampers as an administrator with a SQLite shell could, and runs
``llm-audit verify`` as a user would: every attack must end in exit 1 with a one-line reason
naming the problem. The key stays out of the attacker's reach (the key directory), so what
they can sign with is only a key of their own.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from audit import Auditor
from audit.integrity.signing import create_key
from audit.store.blobs import encode_array
from tests.forge import append_event, backup, clone_row, rechain, renumber_events, resign, rows, shell

pytestmark = pytest.mark.usefixtures("single_thread")


def dossier(db: Path, record_id: str, folder: Path) -> str:
    """The dossier a user would issue, its HTML. A copy lives at another path than the original, so its signing key
    is not found there: the report's own event must not trigger an automatic checkpoint (which would, rightly, refuse
    to sign without the log's key)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LLM_AUDIT_CHECKPOINT_EVERY", "0")
        out = Auditor(db=db).report([record_id], folder / "dossier.html", generated_at="2026-03-06T10:00:00Z")
    return out.path.read_text()


class Real:
    """The recorded database and what the tests need to know about it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.db = folder / "audit.db"
        self.pub = folder / "signing.pub.pem"
        self.early_db = folder / "early.db"  # a copy taken at the early checkpoint (for rollback)
        self.late_note = folder / "late.checkpoint"  # exported at the end, kept by "the regulator"


@pytest.fixture(scope="module")
def real(tiny_loaded, tmp_path_factory) -> Real:
    real = Real(tmp_path_factory.mktemp("real"))
    auditor = Auditor(db=real.db, model=tiny_loaded, operator="analyst-7")
    credit = auditor.generate(
        template="Income {income}, score {score}. Approve?",
        variables={"income": "$42,000", "score": "580"},
        max_new_tokens=4,
        use_case="credit-decision",
    )
    other = auditor.generate(prompt="Counterparty rated BB. Limit?", max_new_tokens=3, use_case="risk-assessment")
    auditor.explain(credit.id, method="feature-ablation", granularity="field")
    auditor.explain(credit.id, method="gradient-x-input", granularity="token")
    auditor.checkpoint()
    auditor.explain(other.id, method="gradient-x-input", granularity="token")
    auditor.checkpoint()
    backup(real.db, real.early_db)
    auditor.attention(credit.id)
    auditor.checkpoint()
    auditor.replay(credit.id)
    auditor.report([credit.id], real.folder / "dossier.html", generated_at="2026-03-04T12:00:00Z")
    auditor.checkpoint(export=real.late_note)
    auditor.signing.write_public(real.pub)
    real.key = auditor.signing.info().path  # the operator's key file (for the operator's own commands)
    real.credit, real.other = credit.id, other.id
    result = auditor.verify(key=real.pub, require_signed=True, against=[real.late_note])
    assert result.ok and result.key_pinned and result.unsigned_events == 0, result.problems
    return real


@pytest.fixture
def copy(real, tmp_path) -> Path:
    target = tmp_path / "attacked.db"
    backup(real.db, target)
    return target


def run(*args: str):
    """The real command line, in this process (a subprocess per attack would cost a second of imports each)."""
    from click.testing import CliRunner

    from audit.cli import main

    done = CliRunner().invoke(main, list(args))
    done.returncode = done.exit_code  # the name the subprocess result uses
    return done


def tampered(cli, db: Path, *args: str) -> str:
    """Run `llm-audit verify`; assert exit 1 and a one-line headline; return that line."""
    done = run("verify", "--db", str(db), *args)
    assert done.returncode == 1, (done.stdout, done.exception)
    headline = done.stdout.splitlines()[0]
    assert headline.startswith("TAMPERED: ") and done.stderr == ""
    return headline


def problems(db: Path, **options) -> list:
    result = Auditor(db=db).verify(**options)
    assert not result.ok
    return result.problems


# -- evidence rows are tied to events, both ways ---------------------------------------------------------------------


def test_explanation_inserted_without_event_with_negated_attributions(real, copy, cli):
    (row,) = rows(copy, "SELECT seq_attr_sha256 FROM explanations WHERE granularity = 'field'")
    with sqlite3.connect(copy) as conn:
        data = conn.execute("SELECT data FROM blobs WHERE sha256 = ?", list(row)).fetchone()[0]
    from audit.store.blobs import decode_array

    negated = encode_array(-decode_array(data))
    import hashlib

    digest = hashlib.sha256(negated).hexdigest()
    shell(copy, "INSERT INTO blobs VALUES (?, 'float32', '2', 8, ?)", params=[digest, negated])
    forged = clone_row(copy, "explanations", "granularity = 'field'", f"seq_attr_sha256 = '{digest}'")
    line = tampered(cli, copy, "--key", str(real.pub))
    assert f"table explanations row {forged} has no explanation event" in line
    from audit.store import AuditStore

    with AuditStore.open(copy) as store:  # the chain-ordered "latest" never picks a row without its event
        assert store.explanations.latest(real.credit, granularity="field").id != forged


def test_replay_inserted_without_event_with_a_diverged_verdict(real, copy, cli):
    forged = clone_row(copy, "replays", "1", "verdict = 'diverged'")
    assert f"table replays row {forged} has no replay event" in tampered(cli, copy, "--key", str(real.pub))
    from audit.store import AuditStore

    with AuditStore.open(copy) as store:
        assert store.replays.latest(real.credit).verdict == "identical"


def test_attention_inserted_without_event_with_forged_tokens(real, copy, cli):
    forged = clone_row(copy, "attention_maps", "1", """tokens = '["forged"]'""")
    assert f"table attention_maps row {forged} has no attention event" in tampered(cli, copy, "--key", str(real.pub))


def test_report_row_inserted_without_event(real, copy, cli):
    forged = clone_row(copy, "reports", "1", "sha256 = 'f' || substr(sha256, 2)")
    assert f"table reports row {forged} has no report event" in tampered(cli, copy, "--key", str(real.pub))


def test_evidence_row_deleted_leaves_its_event_without_a_row(real, copy, cli):
    (replay_id,) = rows(copy, "SELECT id FROM replays")[0]
    shell(copy, "DELETE FROM replays")
    line = tampered(cli, copy, "--key", str(real.pub))
    assert f"replay {replay_id} has no row in table replays: the row was deleted" in line


def test_event_forged_for_an_existing_row(real, copy, cli):
    (replay_id, payload) = rows(copy, "SELECT subject_id, payload FROM events WHERE kind = 'replay'")[0]
    seq = append_event(copy, "replay", replay_id, json.loads(payload))
    line = tampered(cli, copy, "--key", str(real.pub))  # first: it carries no writer's signature
    assert f"seq {seq}: replay {replay_id} carries no signature" in line
    assert f"seq {seq}: replay {replay_id} is logged twice" in run("verify", "--db", str(copy)).stdout


def test_row_swapped_between_two_records(real, copy, cli):
    a, b = rows(copy, "SELECT id, record_id FROM explanations WHERE granularity = 'token' ORDER BY rowid")
    shell(
        copy,
        f"UPDATE explanations SET record_id = '{b[1]}' WHERE id = '{a[0]}'",
        f"UPDATE explanations SET record_id = '{a[1]}' WHERE id = '{b[0]}'",
    )
    line = tampered(cli, copy, "--key", str(real.pub))
    assert (
        f"explanation {a[0]}: row of table explanations differs from the logged payload (fields differ: record_id)"
        in line
    )


def test_evidence_row_seq_changed(real, copy, cli):
    (first_id,) = rows(copy, "SELECT id FROM explanations ORDER BY seq LIMIT 1")[0]
    shell(copy, "UPDATE explanations SET seq = 99 WHERE id = ?", params=[first_id])
    line = tampered(cli, copy, "--key", str(real.pub))
    assert f"table explanations row {first_id} is at seq 99" in line and "1th explanation event" in line


def test_deleted_blob_referenced_by_an_attention_map(real, copy, cli):
    (digest,) = rows(copy, "SELECT rollout_sha256 FROM attention_maps")[0]
    shell(copy, "DELETE FROM blobs WHERE sha256 = ?", params=[digest])
    line = tampered(cli, copy, "--key", str(real.pub))
    assert f"blob {digest[:16]}… referenced by attention" in line and "is missing from table blobs" in line


def test_blob_bytes_replaced(real, copy, cli):
    (digest,) = rows(copy, "SELECT token_attr_sha256 FROM explanations LIMIT 1")[0]
    shell(copy, "UPDATE blobs SET data = ? WHERE sha256 = ?", params=[encode_array(np.zeros(3, np.float32)), digest])
    line = tampered(cli, copy, "--key", str(real.pub))
    assert f"blob {digest[:16]}… referenced by explanation" in line and "does not match its SHA-256" in line


# -- checkpoints cannot be dropped, re-signed or switched -------------------------------------------------------------


def test_record_rewritten_chain_rebuilt_and_all_checkpoints_deleted(real, copy, cli):
    shell(
        copy,
        "UPDATE generations SET output_text = 'APPROVED.' WHERE id = ?",
        "UPDATE events SET payload = json_set(payload, '$.output_text', 'APPROVED.') WHERE subject_id = ? AND kind = 'generation'",
        "DELETE FROM checkpoints",
        params=[real.credit],
    )
    rechain(copy)
    line = tampered(cli, copy, "--key", str(real.pub))
    assert "has no row in table checkpoints: the row was deleted" in line
    # Removing the checkpoint events too leaves a log with no checkpoint at all: pinned, that is a failure.
    shell(copy, "DELETE FROM events WHERE kind = 'checkpoint'")
    renumber_events(copy)
    rechain(copy)
    line = tampered(cli, copy, "--key", str(real.pub))
    assert "the log has no checkpoint at all, but verification is pinned" in line
    unpinned = run("verify", "--db", str(copy))
    assert unpinned.returncode == 0 and "UNPINNED: no checkpoint yet" in unpinned.stdout


def test_middle_checkpoint_deleted(real, copy, cli):
    ids = [r[0] for r in rows(copy, "SELECT id FROM checkpoints ORDER BY id")]
    assert len(ids) >= 3
    middle = ids[len(ids) // 2]
    shell(copy, f"DELETE FROM checkpoints WHERE id = {middle}")
    assert f"checkpoint {middle} has no row in table checkpoints" in tampered(cli, copy, "--key", str(real.pub))


def test_checkpoint_re_signed_with_a_foreign_key(real, copy, cli, tmp_path):
    mallory = create_key(tmp_path / "mallory.key")
    (last,) = rows(copy, "SELECT MAX(id) FROM checkpoints")[0]
    resign(copy, mallory, ids=[last])
    rechain(copy)
    found = {p.check for p in problems(copy)}
    assert "checkpoint-key" in found  # unpinned too: the log's key changed without a key-transition
    assert "checkpoint" in tampered(cli, copy)


def test_whole_log_re_signed_with_a_foreign_key(real, copy, cli, tmp_path, private_trust_file):
    mallory = create_key(tmp_path / "mallory.key")
    resign(copy, mallory)
    rechain(copy)
    unpinned = run("verify", "--db", str(copy))  # consistent under the attacker's key: unpinned cannot tell
    assert unpinned.returncode == 0 and "UNPINNED: " in unpinned.stdout and mallory.key_id in unpinned.stdout
    line = tampered(cli, copy, "--key", str(real.pub))
    assert "no checkpoint of this log is signed by the pinned key" in line and mallory.key_id in line
    assert run("trust", "add", str(real.pub)).returncode == 0  # a key pin pins only the logs its key signed:
    assert "UNPINNED: " in run("verify", "--db", str(copy)).stdout  # a log re-signed from the start is not one
    assert run("trust", "add", str(real.pub), "--db", str(copy)).returncode == 0  # pinned for this log (its origin)
    assert "no checkpoint of this log is signed by the pinned key" in tampered(cli, copy)


def test_checkpoints_switch_key_half_way_without_transition(real, copy, cli, tmp_path):
    mallory = create_key(tmp_path / "mallory.key")
    ids = [r[0] for r in rows(copy, "SELECT id FROM checkpoints ORDER BY id")]
    resign(copy, mallory, ids=ids[len(ids) // 2 :])
    rechain(copy)
    line = tampered(cli, copy)
    assert "no key-transition signed by it hands over to " + mallory.key_id in line


def test_forged_key_transition_not_signed_by_the_old_key(real, copy, cli, tmp_path):
    mallory = create_key(tmp_path / "mallory.key")
    (old_id,) = rows(copy, "SELECT key_id FROM checkpoints LIMIT 1")[0]
    (prev,) = rows(copy, "SELECT leaf_hash FROM events ORDER BY seq DESC LIMIT 1")[0]
    from audit.integrity.signing import transition_message

    message = transition_message(old_id, mallory.raw.hex(), prev)
    payload = {
        "old_key_id": old_id,
        "old_public_key": rows(copy, "SELECT public_key FROM checkpoints LIMIT 1")[0][0],
        "new_key_id": mallory.key_id,
        "new_public_key": mallory.raw.hex(),
        "prev_leaf_hash": prev,
        "at": "2026-03-05T09:00:00.000000Z",
        "old_signature": mallory.sign(message),  # the attacker cannot sign with the old key
        "new_signature": mallory.sign(message),
    }
    seq = append_event(copy, "key-transition", mallory.key_id, payload)
    tampered(cli, copy, "--key", str(real.pub))
    shown = run("verify", "--db", str(copy), "--key", str(real.pub)).stdout
    assert (
        f"seq {seq}: key-transition to {mallory.key_id} is not valid: it is not signed by the key it retires" in shown
    )


# -- the unsigned tail, rollback ---------------------------------------------------------------------------------------


def test_forged_sign_off_after_the_last_checkpoint(real, copy, cli, tmp_path):
    # A whole sign-off, row and event, as the attacker can write it: only a checkpoint can show it is new.
    payload = {
        "id": "01a00000-0000-7000-8000-00000000abcd",
        "record_id": real.credit,
        "record_sha256": "ab" * 32,
        "reviewer": "chief risk officer",
        "role": "admin",
        "action": "accept",
        "decision": None,
        "rationale": "ok",
        "via": "web",
        "created_at": "2026-03-05T09:00:00.000000Z",
    }
    columns, marks = ", ".join(payload), ", ".join("?" for _ in payload)
    shell(copy, f"INSERT INTO reviews ({columns}) VALUES ({marks})", params=list(payload.values()))
    seq = append_event(copy, "review", payload["id"], payload)
    # Every event is signed by the log's key when written: the forged one is not, so it is named at once, and the
    # operator's next routine checkpoint refuses to cover it (nothing is signed).
    line = tampered(cli, copy, "--key", str(real.pub))
    assert f"seq {seq}: review {payload['id']} carries no signature, but the events before it do" in line
    strict = run("verify", "--db", str(copy), "--key", str(real.pub), "--require-signed").stdout
    assert f"{seq}-{seq}) come after the last checkpoint signed by a pinned key" in strict
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LLM_AUDIT_SIGNING_KEY", str(real.key))
        refused = run("checkpoint", "--db", str(copy))
    assert (
        refused.returncode == 2 and f"event seq {seq} (review {payload['id']}) carries no signature" in refused.stderr
    )
    assert run("verify", "--db", str(copy), "--key", str(real.pub)).returncode == 1  # still named, nothing laundered
    # The dossier says the log failed verification, never "verified" for the forged sign-off.
    text = dossier(copy, real.credit, tmp_path)
    assert "Audit log integrity: verified" not in text


def test_rolled_back_copy_against_an_exported_checkpoint(real, cli, tmp_path):
    rolled = tmp_path / "audit.db"
    backup(real.early_db, rolled)
    plain = run("verify", "--db", str(rolled), "--key", str(real.pub))
    assert plain.returncode == 0  # an older copy is a valid log: only a checkpoint kept elsewhere shows the rollback
    done = cli(
        "verify", "--db", str(rolled), "--key", str(real.pub), "--against", str(real.late_note)
    )  # a real process
    assert done.returncode == 1 and done.stdout.startswith("TAMPERED: ") and done.stderr == ""
    assert "rolled back or truncated" in done.stdout and str(real.late_note) in done.stdout


def test_history_rewritten_and_re_signed_against_an_exported_checkpoint(real, copy, cli, tmp_path):
    """Even the holder of a key cannot rewrite what a checkpoint kept elsewhere pins."""
    mallory = create_key(tmp_path / "mallory.key")
    shell(copy, "UPDATE events SET created_at = '2026-01-01T00:00:00.000000Z' WHERE seq = 2")
    rechain(copy)
    resign(copy, mallory)
    line = tampered(cli, copy, "--against", str(real.late_note))
    assert "is not signed by any key of this log" in line or "does not extend" in line


def test_exported_checkpoint_is_a_c2sp_signed_note(real):
    import base64
    import hashlib

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    text = real.late_note.read_text()
    body, signature_line = text.split("\n\n")
    origin, size, root = body.split("\n")
    assert origin.startswith("llm-audit/") and int(size) > 0 and len(base64.b64decode(root)) == 32
    dash, name, encoded = signature_line.rstrip("\n").split(" ")
    assert dash == "\u2014" and name == origin
    raw = base64.b64decode(encoded)
    from audit.integrity.signing import load_key

    key = load_key(real.pub)
    assert raw[:4] == hashlib.sha256(name.encode() + b"\n\x01" + key.raw).digest()[:4]
    Ed25519PublicKey.from_public_bytes(key.raw).verify(raw[4:], (body + "\n").encode())  # raises if invalid


# -- what reports say -------------------------------------------------------------------------------------------------


def test_dossier_of_a_tampered_log_names_the_problem(real, copy, cli, tmp_path):
    shell(copy, "UPDATE generations SET seed = 7 WHERE id = ?", params=[real.credit])
    text = dossier(copy, real.credit, tmp_path)
    assert "Audit log integrity: failed" in text and "bound method" not in text
    assert "FAILED verification, so nothing in this report is verified" in text and "fields differ: seed" in text


def test_dossier_states_what_covers_each_piece_of_evidence(real, copy, cli, tmp_path, private_trust_file):
    assert run("trust", "add", str(real.pub)).returncode == 0
    text = dossier(copy, real.credit, tmp_path)
    assert "Audit log integrity: verified" in text
    for label in (
        "Generation record",
        "Explanation (field, feature-ablation)",
        "Attention analysis",
        "Replay (identical)",
    ):
        assert f"<b>{label}</b>: logged at seq" in text, label
    assert text.count("verified against the pinned key") >= 5
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LLM_AUDIT_CHECKPOINT_EVERY", "0")
        summary = Auditor(db=copy).report(None, tmp_path / "summary.html", generated_at="2026-03-06T10:00:00Z")
    assert "Audit log integrity: verified" in summary.path.read_text()
    assert "Every record in this summary is covered by a checkpoint signed by a pinned key" in summary.path.read_text()
    assert run("trust", "remove", rows(real.db, "SELECT key_id FROM checkpoints LIMIT 1")[0][0]).returncode == 0
    text = dossier(copy, real.credit, tmp_path)
    assert "Audit log integrity: unverified" in text and "but that key is not pinned, so this is not verified" in text


def test_the_evidence_check_in_a_second_process_finds_the_same(real, copy):
    forged = clone_row(copy, "replays", "1", "verdict = 'diverged'")
    (digest,) = rows(copy, "SELECT rollout_sha256 FROM attention_maps")[0]
    shell(copy, "DELETE FROM blobs WHERE sha256 = ?", params=[digest])
    from audit.integrity.trust import resolve_pins
    from audit.integrity.verify import verify_database

    pins = resolve_pins(copy, [real.pub])
    serial, parallel = (verify_database(copy, pins, parallel=p) for p in (False, True))
    assert [str(p) for p in serial.problems] == [str(p) for p in parallel.problems]
    assert (serial.projected, serial.rows, serial.blobs) == (parallel.projected, parallel.rows, parallel.blobs)
    assert any(forged in p.what for p in parallel.problems) and any(digest[:16] in p.what for p in parallel.problems)
