"""Decisions recorded at generation time: the numbers, the two modes, the store, the CLI and every refusal.

The label log-probabilities are checked against a plain teacher-forced pass over prompt + label; a
free-mode record keeps exactly the text a record without a decision gets; a constrained one starts
with the chosen label. Each bad input of the issue is refused in one line with exit code 2 and the
database file byte for byte unchanged.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from audit import Auditor
from audit.decision.labels import label_token_ids, stated_label
from audit.decision.mass import label_mass, share_text
from audit.record import SCHEMA_VERSION
from audit.scoring import teacher_forced
from audit.store import AuditStore
from tests.forge import opened

pytestmark = pytest.mark.usefixtures("single_thread")

DATA = Path(__file__).resolve().parents[1] / "data"
CREDIT = dict(
    system="Credit analyst.",
    template="Income {income}, score {score}. Approve?",
    variables={"income": "$42,000", "score": "580"},
    use_case="credit-decision",
    max_new_tokens=4,
)
DECISION = {
    "labels": ["APPROVE", "DECLINE"],
    "favourable": "APPROVE",
    "reasons": {"score": "Other, specify: credit score"},
}


@pytest.fixture(scope="module")
def recorded(tiny_loaded, tmp_path_factory):
    db = tmp_path_factory.mktemp("decisions") / "a.db"
    auditor = Auditor(db=db, model=tiny_loaded)
    plain = auditor.generate(**CREDIT)
    free = auditor.generate(**CREDIT, decision=DECISION)
    constrained = auditor.generate(**CREDIT, decision={**DECISION, "mode": "constrained"})
    return auditor, plain, free, constrained


def test_labels_are_scored_as_whole_token_sequences_at_the_start_of_the_answer(tiny_loaded, recorded):
    _, plain, free, constrained = recorded
    d = free.decision
    assert d.labels == ["APPROVE", "DECLINE"] and d.mode == "free" and d.favourable == "APPROVE"
    for label in d.labels:
        ids = d.label_token_ids[label]
        expected = sum(teacher_forced(tiny_loaded.model, free.input_ids, ids).token_logprobs)
        assert abs(d.label_logprobs[label] - expected) <= 1e-4
    assert math.isclose(sum(d.probabilities.values()), 1.0, abs_tol=1e-12)
    ranked = sorted(d.labels, key=lambda label: -d.label_logprobs[label])
    assert d.chosen == ranked[0] and d.runner_up == ranked[1]
    assert d.margin == pytest.approx(d.label_logprobs[d.chosen] - d.label_logprobs[d.runner_up])
    assert d.probabilities[d.chosen] == pytest.approx(1 / (1 + math.exp(-d.margin)))
    assert d.adverse == (d.chosen != "APPROVE") and d.reasons == {"score": "Other, specify: credit score"}
    # free: the text is exactly what the same request without a decision produced
    assert free.output_ids == plain.output_ids and plain.decision is None
    assert d.stated == stated_label(free.output_text, d.labels) and d.agrees == (d.stated == d.chosen)
    # constrained: same scores, the answer starts with the chosen label's tokens and states it
    c = constrained.decision
    assert c.label_logprobs == d.label_logprobs and c.chosen == d.chosen
    chosen_ids = c.label_token_ids[c.chosen]
    assert constrained.output_ids[: len(chosen_ids)] == chosen_ids
    assert c.stated == c.chosen and c.agrees and constrained.output_text.startswith(c.chosen)
    assert len(constrained.output_ids) <= CREDIT["max_new_tokens"]
    reference = teacher_forced(tiny_loaded.model, constrained.input_ids, constrained.output_ids).token_logprobs
    assert max(abs(a - b) for a, b in zip(reference, constrained.token_logprobs)) <= 1e-4


def test_label_tokens_follow_the_tokenizers_word_boundary(tiny_loaded):
    tok = tiny_loaded.tokenizer
    chat = tok.apply_chat_template(
        [{"role": "user", "content": "Approve?"}], tokenize=False, add_generation_prompt=True
    )
    ids = tok(chat, add_special_tokens=False)["input_ids"]
    assert label_token_ids(tok, chat, ids, False, "APPROVE") == tok("APPROVE", add_special_tokens=False)["input_ids"]
    plain = "Should the bank approve? Answer:"
    plain_ids = tok(plain)["input_ids"]
    assert label_token_ids(tok, plain, plain_ids, True, "Yes") == tok(" Yes", add_special_tokens=False)["input_ids"]
    assert label_token_ids(tok, plain + "\n", tok(plain + "\n")["input_ids"], True, "Yes") == [10539]  # "Yes"


def test_stated_label_reads_labels_not_lower_case_words():
    labels = ["APPROVE", "DECLINE"]
    assert stated_label("DECLINE: income too low. APPROVE would be unwise.", labels) == "DECLINE"
    assert stated_label("**APPROVE**, subject to checks", labels) == "APPROVE"
    assert stated_label("Decline. The debt is high.", labels) == "DECLINE"  # the first word, any case
    assert stated_label("The bank should not approve this loan.", labels) is None
    assert stated_label("I would APPROVEX it", labels) is None
    assert stated_label("Risk: MEDIUM, possibly HIGH", ["LOW", "MEDIUM", "HIGH"]) == "MEDIUM"


def test_decision_is_stored_logged_verified_and_shown(recorded, cli):
    auditor, plain, free, constrained = recorded
    assert auditor.get(free.id).decision == free.decision and auditor.get(plain.id).decision is None
    with AuditStore.open(auditor.db_path) as store:
        assert "decision" not in store.records.payload(plain.id)  # no decision: the payload of schema 1
        assert store.records.payload(free.id)["decision"]["chosen"] == free.decision.chosen
        assert json.loads(store.events.logged("generation", free.id).payload)["decision"] == free.decision.to_dict()
    assert auditor.verify().ok
    shown = cli("show", free.id, "--db", str(auditor.db_path), "--json")
    assert shown.returncode == 0, shown.stderr
    decision = json.loads(shown.stdout)["decision"]
    assert {"labels", "label_logprobs", "probabilities", "chosen", "margin", "stated", "agrees", "mode"} <= set(
        decision
    )
    assert decision["chosen"] == free.decision.chosen and decision["mode"] == "free"
    assert json.loads(cli("show", plain.id, "--db", str(auditor.db_path), "--json").stdout)["decision"] is None


def test_a_changed_decision_column_fails_verification(recorded, tmp_path):
    auditor, _, free, _ = recorded
    copy = tmp_path / "tampered.db"
    with AuditStore.open(auditor.db_path) as store:
        store.db.conn.execute("PRAGMA wal_checkpoint(FULL)")
    shutil.copy(auditor.db_path, copy)
    with opened(copy) as conn:
        flipped = {**free.decision.to_dict(), "chosen": free.decision.runner_up}
        conn.execute("UPDATE generations SET decision = ? WHERE id = ?", (json.dumps(flipped), free.id))
    result = Auditor(db=copy).verify()
    assert not result.ok and free.id in result.summary() + " ".join(str(p) for p in result.problems)


def test_legacy_records_read_without_a_decision_and_take_new_ones(tiny_loaded, tmp_path):
    db = tmp_path / "legacy.db"
    shutil.copy(DATA / "legacy-0.1.db", db)
    keys = tmp_path / "legacy.db.keys.json"
    shutil.copy(DATA / "legacy-0.1.keys.json", keys)
    keys.chmod(0o600)
    auditor = Auditor(db=db, model=tiny_loaded)
    old = auditor.list()
    assert old and all(r.decision is None and r.schema_version == 1 for r in old)
    added = auditor.generate(**CREDIT, decision=DECISION)  # migrates (records v3) and appends
    assert added.schema_version == SCHEMA_VERSION and auditor.get(added.id).decision == added.decision
    assert auditor.get(added.id).top_logprobs == added.top_logprobs  # packed (records v3) and read back whole
    assert all(r.decision is None for r in auditor.list()[:-1])
    assert auditor.verify(key=DATA / "legacy-0.1.pub.pem").ok  # old rows by the fast path, the new one too


def test_label_mass_is_the_teacher_forced_probability_of_the_label_set(tiny_loaded, recorded):
    """Per label raw probability, their sum and the threshold, against a teacher-forced pass on the recorded ids."""
    _, _, free, constrained = recorded
    for record in (free, constrained):
        d = record.decision
        raw = {
            label: math.exp(sum(teacher_forced(tiny_loaded.model, record.input_ids, ids).token_logprobs))
            for label, ids in d.label_token_ids.items()
        }
        mass = label_mass(d)
        assert mass.raw == pytest.approx(raw, rel=1e-3) and mass.total == pytest.approx(sum(raw.values()), rel=1e-3)
        assert d.min_label_mass == 0.5 and mass.minimum == 0.5 and mass.stated_minimum
        assert mass.below == (sum(raw.values()) < 0.5)


def test_a_record_written_before_label_mass_verifies_and_renders_with_the_default(tiny_loaded, recorded, tmp_path):
    """A decision logged without ``min_label_mass`` (as before it existed): the mass derives from its log-probs."""
    import dataclasses

    from audit.ids import uuid7
    from audit.report import IntegrityStatus, build_dossier, gather, render_dossiers

    auditor, _, free, _ = recorded
    db = tmp_path / "older.db"
    older = Auditor(db=db, model=tiny_loaded)
    record = older.generate(**CREDIT, decision=DECISION)
    legacy = dataclasses.replace(
        record, id=uuid7(), seq=None, decision=dataclasses.replace(record.decision, min_label_mass=None)
    )
    with AuditStore.open(db, write=True) as store:
        store.records.append(legacy)
        assert "min_label_mass" not in store.records.payload(legacy.id)["decision"]
    older.generate(**CREDIT)  # a later record: the log is checkpointed past the older one
    with AuditStore.open(db) as store:
        evidence = gather(store, store.records.get(legacy.id))
    assert older.verify().ok
    back = older.get(legacy.id).decision
    assert back.min_label_mass is None and label_mass(back).minimum == 0.5 and not label_mass(back).stated_minimum
    import html as entities

    page = render_dossiers([build_dossier(evidence, "2026-01-01T00:00:00Z", IntegrityStatus("verified", "ok"))], "x")
    html = entities.unescape(page)
    mass = sum(math.exp(lp) for lp in back.label_logprobs.values())
    assert f"hold {share_text(mass)} of the model's probability" in html and "minimum 0.5, the default" in html


@pytest.fixture(scope="module")
def refusal_db(recorded, tmp_path_factory):
    """A copy of the module's database whose bytes the refusals must leave alone."""
    auditor = recorded[0]
    with AuditStore.open(auditor.db_path) as store:
        store.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    copy = tmp_path_factory.mktemp("refusals") / "r.db"
    shutil.copy(auditor.db_path, copy)
    return copy


@pytest.mark.parametrize(
    "args, message",
    [
        (["--decision-labels", "APPROVE", "--favourable", "APPROVE"], "at least two labels"),
        (["--decision-labels", "APPROVE,APPROVE", "--favourable", "APPROVE"], "'APPROVE' is given twice"),
        (["--decision-labels", "APPROVE,approve", "--favourable", "APPROVE"], "differ only in case"),
        (["--decision-labels", "APPROVE,DECLINE", "--favourable", "ACCEPT"], "'ACCEPT' is not among the labels"),
        (["--decision-labels", "APPROVE,DECLINE"], "name the label favourable to the applicant"),
        (["--decision-labels", "LOW,LOWER", "--favourable", "LOW"], "'LOW' is a token prefix of 'LOWER'"),
        (["--favourable", "APPROVE"], "need --decision-labels"),
        (["--min-label-mass", "0.4"], "need --decision-labels"),
        (["--decision-labels", "A,B", "--favourable", "A", "--min-label-mass", "1.5"], "between 0 and 1"),
        (["--decision-labels", "A,B", "--favourable", "A", "--decision-reason", "salary=Income"], "no field 'salary'"),
    ],
)
def test_bad_decision_specifications_are_refused_in_one_line(cli_fast, refusal_db, tiny_model_dir, args, message):
    before = refusal_db.read_bytes()
    done = cli_fast(
        "generate",
        "--template",
        "Income {income}. Approve?",
        "--var",
        "income=42000",
        *args,
        "--db",
        str(refusal_db),
        "--model",
        str(tiny_model_dir),
    )
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert refusal_db.read_bytes() == before


def test_bad_explanation_targets_are_refused_in_one_line(cli, cli_fast, recorded, refusal_db, tiny_model_dir):
    from audit import UserError

    _, plain, free, _ = recorded
    before = refusal_db.read_bytes()
    for args, message in [
        ([plain.id, "--target", "decision"], "has no decision to explain"),
        ([free.id, "--contrast", "MAYBE"], "--contrast 'MAYBE' is not a label of record"),
    ]:
        run = cli if "--target" in args else cli_fast  # one in a real process, the other in this one
        done = run("explain", *args, "--db", str(refusal_db), "--model", str(tiny_model_dir))
        assert done.returncode == 2 and message in done.stderr, (args, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    auditor = Auditor(db=refusal_db, model=str(tiny_model_dir))  # the same checks, before any model loads
    for kwargs, message in [
        ({"contrast": free.decision.chosen}, "is the record's own decision"),
        ({"target": "output", "contrast": "APPROVE"}, "--contrast applies to --target decision"),
        ({"target": "verdict"}, "unknown target 'verdict'"),
    ]:
        with pytest.raises(UserError, match=message):
            auditor.explain(free.id, **kwargs)
    assert auditor._loaded is None and refusal_db.read_bytes() == before
