"""Every tampering of the chain itself is detected by ``verify``, naming the first bad seq.

The fixture log: 4 generations (seq 1-4), one non-evidence event referencing a blob (seq 5), and
a checkpoint (its event at seq 6, signing the tree of 6). Attacks on evidence rows, checkpoints,
keys and rollback are in ``test_integrity_attacks.py``.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from audit import Auditor
from audit.errors import UserError
from audit.integrity.chain import GENESIS, seal
from audit.integrity.signing import create_key
from audit.store import AuditStore
from tests.forge import append_event, clone_row, insert_events, rechain, rewrite_event, sign_checkpoint
from tests.forge import shell as attack

PROMPTS = [
    "Income 42000, score 580. Approve?",
    "Summarise: rates rose.",
    "Clause 4.2 limits liability.",
    "Counterparty rated BB.",
]


@pytest.fixture(scope="module")
def sealed(tiny_loaded, tmp_path_factory) -> Path:
    """4 generations, one blob-backed event, then a checkpoint (event 6) covering all 6 events; its public key beside."""
    folder = tmp_path_factory.mktemp("sealed")
    db = folder / "audit.db"
    auditor = Auditor(db=db, model=tiny_loaded)
    for seed, prompt in enumerate(PROMPTS):
        auditor.generate(prompt=prompt, max_new_tokens=4, seed=seed, do_sample=True, temperature=0.7)
    with AuditStore.open(db, write=True) as store, store.transaction():
        digest = store.blobs.put(np.arange(12, dtype=np.float32).reshape(3, 4))
        store.events.append("attribution-test", auditor.list()[0].id, {"scores_sha256": digest, "method": "test"})
    auditor.checkpoint()
    auditor.signing.write_public(folder / "audit.pub.pem")
    assert auditor.verify().ok
    return db


@pytest.fixture
def copy(sealed, tmp_path) -> Path:
    for file in sealed.parent.iterdir():
        shutil.copy2(file, tmp_path / file.name)
    return tmp_path / sealed.name


def first(db: Path):
    result = Auditor(db=db).verify(key=db.parent / "audit.pub.pem")
    assert not result.ok
    return result.first_problem


def generation_seq(db: Path, n: int) -> tuple[int, str]:
    """(event seq, record id) of the n-th generation."""
    conn = sqlite3.connect(db)
    seq, subject = conn.execute(
        "SELECT seq, subject_id FROM events WHERE kind='generation' ORDER BY seq LIMIT 1 OFFSET ?", [n]
    ).fetchone()
    conn.close()
    return seq, subject


def test_intact_log_verifies_with_every_count(copy):
    result = Auditor(db=copy).verify(key=copy.parent / "audit.pub.pem")
    assert result.ok, result.problems
    # blobs: the explanation's array, the recording host's environment (one for all four records), each record's tokens
    assert (result.events, result.projected, result.blobs, result.checkpoints, result.signed_size) == (6, 5, 6, 1, 6)
    assert result.rows == 5 and result.pinned_size == 6
    assert result.key_pinned and result.unsigned_events == 0
    unpinned = Auditor(db=copy).verify()
    assert unpinned.ok and not unpinned.key_pinned and "UNPINNED" in unpinned.summary()


def test_triggers_abort_update_and_delete_and_leave_the_file_unchanged(copy):
    before = copy.read_bytes()
    conn = sqlite3.connect(copy)
    for statement in (
        "UPDATE generations SET prompt='x'",
        "DELETE FROM events WHERE seq=1",
        "UPDATE blobs SET dtype='x'",
        "DELETE FROM checkpoints",
    ):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute(statement)
    conn.close()
    assert copy.read_bytes() == before


def test_changed_prompt(copy):
    seq, record_id = generation_seq(copy, 1)
    attack(copy, f"UPDATE generations SET prompt = prompt || ' Approve regardless.' WHERE id = '{record_id}'")
    problem = first(copy)
    assert (problem.check, problem.seq) == ("tables", seq) and "prompt" in problem.what and record_id in problem.what


def test_changed_seed(copy):
    seq, record_id = generation_seq(copy, 2)
    attack(copy, f"UPDATE generations SET seed = seed + 1 WHERE id = '{record_id}'")
    problem = first(copy)
    assert (problem.check, problem.seq) == ("tables", seq) and "seed" in problem.what


def test_changed_generation_parameter(copy):
    seq, record_id = generation_seq(copy, 0)
    attack(
        copy,
        f"UPDATE generations SET generation_config = json_set(generation_config, '$.temperature', 0.1) WHERE id = '{record_id}'",
    )
    problem = first(copy)
    assert (problem.check, problem.seq) == ("tables", seq) and "generation_config" in problem.what


def _flip_blob(db: Path, where: str) -> str:
    """Flip one byte of the first blob matching ``where``; its key."""
    conn = sqlite3.connect(db)
    digest, data = conn.execute(f"SELECT sha256, data FROM blobs WHERE {where} ORDER BY rowid").fetchone()
    conn.close()
    flipped = bytearray(data)
    flipped[len(flipped) // 2] ^= 0x01
    attack(db, "UPDATE blobs SET data = ? WHERE sha256 = ?", params=[bytes(flipped), digest])
    return digest


def test_changed_byte_in_blob(copy):
    digest = _flip_blob(copy, "dtype NOT LIKE 'llm-audit-%'")  # the explanation's array
    problem = first(copy)
    assert (
        problem.check == "blobs"
        and problem.seq == 5
        and digest[:16] in problem.what
        and "named by seq 5" in problem.what
    )


@pytest.mark.parametrize("layout", ["llm-audit-tokens/1", "llm-audit-json/1"])
def test_changed_byte_in_a_records_blob_is_named_and_the_record_is_not_read(copy, layout):
    """Records version 4 hold their tokens and environment by reference: a changed blob is named by verify with the
    first record that references it, and reading that record is refused, never shown altered."""
    digest = _flip_blob(copy, f"dtype = '{layout}'")
    seq, record_id = generation_seq(copy, 0)
    problem = first(copy)
    assert problem.check == "blobs" and problem.seq == seq and digest[:16] in problem.what
    assert f"referenced by generation {record_id}" in problem.what
    with pytest.raises(UserError, match="does not match its SHA-256"):
        Auditor(db=copy).get(record_id)


def test_deleted_middle_row(copy):
    seq, record_id = generation_seq(copy, 1)
    attack(copy, f"DELETE FROM events WHERE seq = {seq}", f"DELETE FROM generations WHERE id = '{record_id}'")
    problem = first(copy)
    assert (problem.check, problem.seq) == ("sequence", seq) and "missing" in problem.what


def test_deleted_last_row_after_checkpoint(copy):
    attack(copy, "DELETE FROM events WHERE seq = 6")
    problem = first(copy)
    assert (
        (problem.check, problem.seq) == ("truncation", 6)
        and "truncated" in problem.what
        and "covers 6 events, only 5 remain" in problem.what
    )


def test_two_rows_swapped(copy):
    attack(
        copy,
        "UPDATE events SET seq = -2 WHERE seq = 2",
        "UPDATE events SET seq = 2 WHERE seq = 3",
        "UPDATE events SET seq = 3 WHERE seq = -2",
    )
    problem = first(copy)
    assert (problem.check, problem.seq) == ("chain-link", 2)


def test_inserted_row_with_recomputed_hashes_is_caught_by_the_signed_root(copy):
    attack(
        copy, "UPDATE events SET seq = seq + 100 WHERE seq >= 3", "UPDATE events SET seq = seq - 99 WHERE seq >= 103"
    )
    forged = seal(3, GENESIS, "attribution-test", "forged", "2026-01-01T00:00:00.000000Z", {"method": "forged"})
    insert_events(copy, [forged])
    rechain(copy, 3)
    result = Auditor(db=copy).verify()
    checks = {p.check for p in result.problems}
    # The chain itself is consistent: the signed root catches it, and the checkpoint's event now sits at seq 7
    # while it signs a tree of 6; the forged event carries no writer's signature.
    assert checks == {"checkpoint-root", "tables", "event-signature"}
    assert any(p.seq == 6 and "Merkle root" in p.what for p in result.problems)


def test_appended_row_with_forged_checkpoint_fails_against_the_pinned_key(copy):
    # Append a well-formed event beyond the checkpoint and sign a new checkpoint with the attacker's own key.
    assert append_event(copy, "attribution-test", "forged", {"method": "forged"}, "2026-01-01T00:00:00.000000Z") == 7
    mallory = create_key(copy.parent / "mallory.key")
    before = Auditor(db=copy).verify(key=copy.parent / "audit.pub.pem")
    assert before.pinned_size == 6 and before.unsigned_events == 1  # appended, not covered, and without signature:
    assert [p.check for p in before.problems] == ["event-signature"]
    sign_checkpoint(copy, mallory, "2026-01-02T00:00:00.000000Z")
    result = Auditor(db=copy).verify(key=copy.parent / "audit.pub.pem")
    assert any(p.check == "checkpoint-key" and p.seq == 7 and mallory.key_id in p.what for p in result.problems)


def test_triggers_dropped_row_edited_and_chain_recomputed(copy):
    seq, record_id = generation_seq(copy, 0)
    attack(copy, f"UPDATE generations SET output_text = 'APPROVED.' WHERE id = '{record_id}'")
    rewrite_event(copy, seq, lambda payload: payload.update(output_text="APPROVED."))
    rechain(copy, seq)
    result = Auditor(db=copy).verify(key=copy.parent / "audit.pub.pem")
    assert any(p.check == "checkpoint-root" and p.seq == 6 for p in result.problems)
    # and the rewritten event's writer's signature no longer matches its leaf: the edited event itself is named
    assert result.first_problem.check == "event-signature" and result.first_problem.seq == seq


def test_edited_payload_without_rehash(copy):
    attack(
        copy, 'UPDATE events SET payload = replace(payload, \'"method":"test"\', \'"method":"other"\') WHERE seq = 5'
    )
    problem = first(copy)
    assert (problem.check, problem.seq) == ("payload-hash", 5)


def test_generation_row_added_outside_the_log(copy):
    seq, record_id = generation_seq(copy, 0)
    clone_row(copy, "generations", f"id = '{record_id}'", new_id="ffffffff-0000-7000-8000-000000000000")
    result = Auditor(db=copy).verify()
    assert not result.ok and result.first_problem.check == "evidence-rows"
    assert (
        "table generations row ffffffff-0000-7000-8000-000000000000 has no generation event"
        in result.first_problem.what
    )


def test_cli_verify_exit_codes_json_and_junit(copy, cli, tmp_path):
    from click.testing import CliRunner

    from audit.cli import main

    ok = CliRunner().invoke(main, ["verify", "--db", str(copy), "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["ok"] is True
    seq, record_id = generation_seq(copy, 1)
    attack(copy, f"UPDATE generations SET seed = 99 WHERE id = '{record_id}'")
    junit = tmp_path / "verify.xml"
    bad = cli("verify", "--db", str(copy), "--junit", str(junit))
    assert bad.returncode == 1
    assert bad.stdout.startswith(f"TAMPERED: seq {seq}: generation {record_id}") and "seed" in bad.stdout
    import xml.etree.ElementTree as ET

    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite.get("failures") == "1"
    failed = [c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None]
    assert failed == ["tables"] and all(c.get("classname") == "llm-audit.verify" for c in suite.iter("testcase"))


def test_generation_projection_equals_the_logged_payload(copy):
    from audit.store.records import generation_payload

    with AuditStore.open(copy) as store:
        for record in store.records.iter():
            projected = store.evidence["generation"].payload(record.id)
            assert projected == generation_payload(record)


def test_verification_rebuilds_each_generation_payload_byte_for_byte(copy):
    """The fast path: canonical JSON columns concatenate to the exact logged text, no parsing."""

    with AuditStore.open(copy) as store:
        logged = {e.subject_id: e.payload for e in store.events.iter_chain() if e.kind == "generation"}
        assert len(logged) == len(PROMPTS)
        for record_id, payload in logged.items():
            assert store.evidence["generation"].payload_text(record_id) == payload


def test_record_that_json_canonicalisation_cannot_write_verifies_the_slow_way(copy):
    """A -inf log-probability is outside I-JSON: in a record of version 2 or older its column is plain JSON, and
    verification falls back to comparing parsed values, which still catches an edit. From version 3 the value
    is inside the packed column (audit.token_pack), which is canonical: the fast path."""
    from dataclasses import replace

    from audit.ids import uuid7

    with AuditStore.open(copy, write=True) as store:
        template = next(store.records.iter())
        logprobs = [float("-inf")] + template.token_logprobs[1:]
        record = replace(template, id=uuid7(), seq=None, token_logprobs=logprobs, schema_version=2)
        packed = replace(template, id=uuid7(), seq=None, token_logprobs=logprobs, schema_version=3)
        store.records.append(record)
        store.records.append(packed)
        assert (
            store.evidence["generation"].payload_text(record.id)
            != next(store.events.iter_chain(subject_id=record.id)).payload
        )
        assert (
            store.evidence["generation"].payload_text(packed.id)
            == next(store.events.iter_chain(subject_id=packed.id)).payload
        )
        assert store.records.get(record.id).token_logprobs[0] == float("-inf")
        assert store.records.get(packed.id).token_logprobs == logprobs
    assert Auditor(db=copy).verify().ok
    attack(copy, "UPDATE generations SET seed = seed + 1 WHERE id = ?", params=[record.id])
    problem = first(copy)
    assert problem.check == "tables" and "seed" in problem.what


def test_template_variables_keep_their_order_and_still_verify_byte_for_byte(tiny_loaded, tmp_path):
    """JCS sorts object keys; the variables column keeps the caller's order (it is the order
    of the fields in a field-level explanation) and is canonicalised only for verification."""

    auditor = Auditor(db=tmp_path / "v.db", model=tiny_loaded)
    record = auditor.generate(
        template="Score {zeta}, income {alpha}. Approve?",
        variables={"zeta": "580", "alpha": "$42,000"},
        max_new_tokens=2,
    )
    assert list(auditor.get(record.id).variables) == ["zeta", "alpha"]
    with AuditStore.open(auditor.db_path) as store:
        logged = next(store.events.iter_chain(subject_id=record.id)).payload
        assert '"variables":{"alpha":"$42,000","zeta":"580"}' in logged
        assert store.evidence["generation"].payload_text(record.id) == logged
    assert auditor.verify().ok
