"""Sign-offs, findings and users as evidence: stored with their events, verified, tampering caught; the CLI.

A session of reviews leaves a log that ``verify`` accepts; every tampering with a review (an edited
row, a deleted row, a row inserted without its event) makes ``llm-audit verify`` exit 1. The
commands (``users``, ``review``) are run as a user runs them, in a subprocess.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from audit import Auditor
from audit.integrity.signing import VerifyKey
from audit.integrity.trust import Pins
from audit.report import build_dossier, gather, render_dossiers
from audit.report.evidence import IntegrityStatus
from audit.review.errors import BadRequest, Forbidden
from audit.review.roles import Principal
from audit.store import AuditStore
from tests.conftest import REPO
from tests.forge import rechain, shell

PASSWORD = "correct horse battery"
CLI = Principal("root", "admin", "cli")


def run(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run(
        [sys.executable, "-m", "audit", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=REPO,
        timeout=120,
    )


@pytest.fixture(scope="module")
def reviewed(tiny_loaded, tmp_path_factory) -> tuple[Path, list[str]]:
    """Two records by operator ops, users, two sign-offs, a finding and its resolution, a checkpoint."""
    from tests.conftest import one_torch_thread

    db = tmp_path_factory.mktemp("reviewed") / "audit.db"
    auditor = Auditor(db=db, model=tiny_loaded, operator="ops")
    with one_torch_thread():
        ids = [
            auditor.generate(prompt=p, max_new_tokens=3, use_case=u).id
            for p, u in (("Income 42000, score 580. Approve?", "credit-decision"), ("Summarise: rates rose.", "news"))
        ]
    reviews = auditor.reviews
    reviews.accounts.add(CLI, "rita", "reviewer", PASSWORD)
    reviews.accounts.add(CLI, "val", "validator", PASSWORD)
    rita, val = reviews.session_user("rita"), reviews.session_user("val")
    first = reviews.sign_off(rita, ids[0], "accept", rationale="reasons read, consistent with policy")
    reviews.sign_off(val, ids[0], "override", "DECLINE", "income not verified", based_on=first.id)
    finding = reviews.add_finding(rita, ids[1], "high", "outcome", "summary omits the rate level")
    reviews.resolve_finding(val, finding.id, "accepted as a known limit")
    auditor.checkpoint()
    return db, ids


@pytest.fixture
def copy(reviewed, tmp_path) -> tuple[Path, list[str]]:
    db, ids = reviewed
    from audit.integrity.key_location import default_key_path

    for file in db.parent.iterdir():
        shutil.copy2(file, tmp_path / file.name)
    copied = tmp_path / db.name
    if default_key_path(db).exists():  # the copy gets the key too: signing a copy's log needs its key
        shutil.copy2(default_key_path(db), default_key_path(copied))
    return copied, ids


def test_a_session_of_reviews_verifies_and_every_row_has_its_event(reviewed):
    db, ids = reviewed
    result = Auditor(db=db).verify()
    assert result.ok, result.problems
    with AuditStore.open(db) as store:
        kinds = [e.kind for e in store.events.iter()]
        assert kinds.count("review") == 2 and kinds.count("finding") == 2 and kinds.count("user") == 2
        assert {"review", "finding", "user"} <= set(store.evidence)
        reviews = store.reviews.of_record(ids[0])
        assert [(r.reviewer, r.role, r.action, r.decision) for r in reviews] == [
            ("rita", "reviewer", "accept", None),
            ("val", "validator", "override", "DECLINE"),
        ]
        logged = store.events.logged("generation", ids[0])
        assert all(r.record_sha256 == logged.payload_sha256 for r in reviews)
        for review in reviews:  # the event's payload is the row, field for field
            assert store.events.logged("review", review.id).payload == json.dumps(
                review.payload(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
            )


def test_dossier_section_9_shows_every_sign_off_and_marks_the_latest_effective(reviewed):
    db, ids = reviewed
    with AuditStore.open(db) as store:
        record = store.records.get(ids[0])
        html = render_dossiers(
            [build_dossier(gather(store, record), "2026-01-01T00:00:00Z", IntegrityStatus("verified", "ok"))], "x"
        )
    section = html[html.index('id="d0-signoff"') :]
    assert "No sign-off is recorded" not in section
    assert section.index("<td>rita</td>") < section.index("<td>val</td>")
    assert "Accepted the model&#39;s output" in section and "Overridden: DECLINE" in section
    assert section.count("effective</span>") == 1 and "income not verified" in section
    assert "Reviewer name" in section  # the static dossier keeps the paper form


def test_summary_report_states_review_statistics(reviewed, tmp_path):
    db, _ = reviewed
    out = Auditor(db=db).report(None, tmp_path / "summary.html", log=False)
    html = out.path.read_text()
    part = html[html.index("Human oversight") :]
    # 1 of 2 records reviewed (its effective sign-off overrides); the finding is resolved, so 0 open
    assert "<b>50%</b>reviewed (1 of 2)" in part and "<b>1</b>overridden" in part and "<b>0</b>open findings" in part
    assert (
        '<td>credit-decision</td><td class="n">1</td><td class="n">1</td><td class="n">1</td><td class="n">100%</td>'
        in part
    )


@pytest.mark.parametrize(
    "what",
    ["edit", "delete", "edit-event"],
)
def test_tampering_with_a_review_fails_verify(copy, what):
    db, ids = copy
    conn = sqlite3.connect(db)
    review_id = conn.execute("SELECT id FROM reviews ORDER BY seq LIMIT 1").fetchone()[0]
    conn.close()
    if what == "edit":
        shell(db, "UPDATE reviews SET action='override', decision='APPROVE' WHERE id=?", params=[review_id])
    elif what == "delete":
        shell(db, "DELETE FROM reviews WHERE id=?", params=[review_id])
    else:
        shell(
            db,
            "UPDATE events SET payload=replace(payload, 'accept', 'override') WHERE subject_id=?",
            params=[review_id],
        )
    done = run("verify", "--db", str(db))
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.startswith("TAMPERED")
    expected = {
        "edit": "row of table reviews differs",
        "delete": "has no row in table reviews",
        "edit-event": "payload edited",
    }[what]
    assert expected in done.stdout
    with AuditStore.open(db) as store:  # the record page says so too
        from audit.integrity.record_check import check_record

        assert check_record(store, ids[0], None).state == "failed"


def test_a_review_inserted_without_its_event_fails_verify(copy):
    db, ids = copy
    shell(
        db,
        "INSERT INTO reviews (id, record_id, record_sha256, reviewer, role, action, decision, rationale, via, created_at) "
        "VALUES ('01a00000-0000-7000-8000-000000000001', ?, 'ab', 'mallory', 'admin', 'accept', NULL, '', 'web', "
        "'2026-01-01T00:00:00.000000Z')",
        params=[ids[1]],
    )
    assert not Auditor(db=db).verify().ok


def _pins(db):
    """Pinned to the key that signed the database's first checkpoint (what `llm-audit trust add` would pin)."""
    with AuditStore.open(db) as store:
        first = store.checkpoints.all()[0]
    return Pins((VerifyKey.from_raw_hex(first.public_key, "test pin"),), "test")


def test_record_integrity_is_verified_only_when_checkpointed_against_a_pinned_key(copy, tiny_loaded):
    from audit.integrity.record_check import check_record

    db, ids = copy
    with AuditStore.open(db) as store:
        found = check_record(store, ids[0], _pins(db))
        unpinned = check_record(store, ids[0], Pins())
    assert found.state == "verified" and (found.events, found.covered) == (3, 3)
    assert "1 generation, 2 sign-offs" in found.message
    assert unpinned.state == "unverified" and "no trusted key is pinned" in unpinned.message
    auditor = Auditor(db=db, model=tiny_loaded, operator="ops")
    with AuditStore.open(db) as store:
        latest = store.reviews.of_record(ids[0])[-1].id
    auditor.reviews.sign_off(auditor.reviews.session_user("rita"), ids[0], "accept", based_on=latest)
    with AuditStore.open(db) as store:
        newer = check_record(store, ids[0], _pins(db))
    assert newer.state == "unverified" and (newer.events, newer.covered) == (4, 3)
    assert "not covered by a signed checkpoint yet" in newer.message


def test_the_signed_prefix_is_checked_once_extended_by_new_checkpoints_and_tampering_still_shows(copy, tiny_loaded):
    from audit.integrity.record_check import SignedLeaves, check_record

    db, ids = copy
    signed = SignedLeaves()
    key = _pins(db)
    with AuditStore.open(db) as store:
        assert check_record(store, ids[0], key, signed).state == "verified"
    size = len(signed.leaves)
    auditor = Auditor(db=db, model=tiny_loaded, operator="ops")
    with AuditStore.open(db) as store:
        latest = store.reviews.of_record(ids[0])[-1].id
    auditor.reviews.sign_off(auditor.reviews.session_user("rita"), ids[0], "accept", based_on=latest)
    auditor.checkpoint()
    with AuditStore.open(db) as store:
        found = check_record(store, ids[0], key, signed)
    # the prefix grew by the sign-off's event and the new checkpoint's own event
    assert found.state == "verified" and found.covered == 4 and len(signed.leaves) == size + 2
    conn = sqlite3.connect(db)
    seq = conn.execute("SELECT seq FROM events WHERE kind='review' ORDER BY seq LIMIT 1").fetchone()[0]
    conn.close()
    shell(db, "UPDATE events SET payload=replace(payload, 'accept', 'override') WHERE seq=?", params=[seq])
    rechain(db, seq)  # the strongest attacker without the key: every hash recomputed
    with AuditStore.open(db) as store:
        assert check_record(store, ids[0], key, signed).state == "failed"
        assert check_record(store, ids[0], key, SignedLeaves()).state == "failed"


def test_sign_off_rules_refuse_before_anything_is_stored(copy):
    db, ids = copy
    reviews = Auditor(db=db, operator="x").reviews
    reviews.accounts.add(CLI, "ops", "reviewer", PASSWORD)
    reviews.accounts.add(CLI, "vera", "viewer", PASSWORD)
    before = db.read_bytes()
    rita, vera, ops = (reviews.session_user(n) for n in ("rita", "vera", "ops"))
    cases = [
        (lambda: reviews.sign_off(vera, ids[0], "accept"), Forbidden, "may not sign off"),
        (lambda: reviews.sign_off(ops, ids[0], "accept"), Forbidden, "four eyes"),
        (lambda: reviews.sign_off(rita, ids[0], "override", "DECLINE", "  "), BadRequest, "rationale"),
        (lambda: reviews.sign_off(rita, ids[0], "override", None, "why"), BadRequest, "decision"),
        (lambda: reviews.sign_off(rita, ids[0], "accept", "DECLINE"), BadRequest, "accept keeps"),
        (lambda: reviews.sign_off(rita, ids[0], "approve"), BadRequest, "not one of"),
        (lambda: reviews.sign_off(rita, "../etc/passwd", "accept"), BadRequest, "not a record id"),
        (lambda: reviews.add_finding(rita, ids[0], "urgent", "data", "x"), BadRequest, "severity"),
        (lambda: reviews.add_finding(rita, ids[0], "low", "data", ""), BadRequest, "required"),
        (lambda: reviews.add_finding(vera, ids[0], "low", "data", "x"), Forbidden, "may not add findings"),
    ]
    for call, error, words in cases:
        with pytest.raises(error, match=words):
            call()
    assert db.read_bytes() == before


def test_cli_users_and_review(copy, tmp_path):
    db, ids = copy
    env = {"LLM_AUDIT_OPERATOR": "root"}
    added = run(
        "users", "add", "bob", "--role", "reviewer", "--password-stdin", "--db", str(db), stdin=PASSWORD + "\n", env=env
    )
    assert added.returncode == 0, added.stderr
    short = run(
        "users", "add", "eve", "--role", "viewer", "--password-stdin", "--db", str(db), stdin="short\n", env=env
    )
    assert short.returncode == 2 and short.stderr.count("\n") == 1 and "12 to 1024 characters" in short.stderr
    listed = json.loads(run("users", "list", "--json", "--db", str(db)).stdout)["users"]
    assert [(u["name"], u["role"], u["disabled"]) for u in listed] == [
        ("bob", "reviewer", False),
        ("rita", "reviewer", False),
        ("val", "validator", False),
    ]
    signed = run(
        "review",
        ids[1],
        "--override",
        "ESCALATE",
        "--rationale",
        "needs a human",
        "--json",
        "--db",
        str(db),
        env={"LLM_AUDIT_OPERATOR": "bob"},
    )
    assert signed.returncode == 0, signed.stderr
    payload = json.loads(signed.stdout)
    assert (payload["reviewer"], payload["role"], payload["via"], payload["decision"]) == (
        "bob",
        "reviewer",
        "cli",
        "ESCALATE",
    )
    before = db.read_bytes()
    refused = run("review", ids[1], "--accept", "--db", str(db), env={"LLM_AUDIT_OPERATOR": "ops"})
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert "not an enabled workspace user" in refused.stderr and "Traceback" not in refused.stderr
    assert db.read_bytes() == before
    reviews = Auditor(db=db).reviews
    reviews.accounts.disable(CLI, "bob")
    with pytest.raises(Forbidden, match="not an enabled workspace user"):
        reviews.cli_user("bob")
    assert Auditor(db=db).verify().ok
    with AuditStore.open(db) as store:
        assert [c.action for c in store.users.history("bob")] == ["add", "disable"]
        assert store.users.password_hash("bob").startswith("$argon2id$")
        assert PASSWORD not in db.read_text(errors="replace")


def test_the_workspace_refuses_to_start_without_a_database_or_a_user(tmp_path):
    from audit.errors import UserError
    from audit.ui.server import serve

    with pytest.raises(UserError, match="no audit database"):
        serve(Auditor(db=tmp_path / "missing.db"), host="127.0.0.1", port=0)
    AuditStore.open(tmp_path / "empty.db", write=True).close()
    with pytest.raises(UserError, match="no workspace user yet: create the first admin with `llm-audit users add"):
        serve(Auditor(db=tmp_path / "empty.db"), host="127.0.0.1", port=0)
