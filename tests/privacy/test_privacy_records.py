"""Sealed records end to end on the tiny model: no clear PII in the database bytes, explain and
replay with the key, a clear refusal without it, erasure that keeps the log verifying, and
retention that never erases inside the minimum or under a legal hold."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from audit import Auditor
from audit.errors import UserError
from audit.examples import load_case, load_examples
from audit.store import AuditStore

REPO = Path(__file__).resolve().parents[2]
PII_CASE = REPO / "examples" / "privacy" / "credit_decision_pii.toml"
PLANTED = [
    v for k, v in load_case(PII_CASE).inputs["variables"].items() if k not in ("income", "credit_score", "amount")
]
POLICY = REPO / "examples" / "privacy" / "policy.toml"

pytestmark = pytest.mark.usefixtures("single_thread")


def raw_bytes(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*") if not p.name.endswith(".keys.json"))


def leaks(db: Path) -> list[str]:
    raw = raw_bytes(db)
    found = [v for v in PLANTED if v.encode() in raw]
    digits = "".join(c for c in "4111 1111 1111 1111" if c.isdigit())
    return found + ([digits] if digits.encode() in raw else [])


@pytest.fixture(scope="module")
def sealed(tmp_path_factory, tiny_loaded):
    folder = tmp_path_factory.mktemp("sealed")
    auditor = Auditor(db=folder / "a.db", model=tiny_loaded, policy=POLICY)
    case = load_case(PII_CASE)
    kwargs = {**case.generate_kwargs(), "max_new_tokens": 8}
    record = auditor.generate(**kwargs)
    field = auditor.explain(record.id, granularity="field")
    token = auditor.explain(record.id, granularity="token")
    attention = auditor.attention(record.id)
    replay = auditor.replay(record.id)
    return auditor, record, field, token, attention, replay


def test_no_planted_pii_anywhere_in_the_database_file_or_wal(sealed):
    auditor, record, *_ = sealed
    assert leaks(auditor.db_path) == []
    stored = auditor.list()[0]
    assert "[CARD_1]" in stored.prompt and "[NAME_1]" in stored.prompt and "[IBAN#" in stored.prompt
    assert (
        stored.variables["dob"] == "[DOB_1]"
        and set(stored.input_ids) == {-1}
        and len(stored.input_ids) == len(record.input_ids)
    )
    assert record.tags["privacy"]["detected"] == {
        k: 1 for k in ("name", "address", "customer_id", "email", "phone", "dob", "ssn", "iban", "card")
    }
    assert stored.tags["privacy"]["subject"].startswith("subj-") and "CUST-4471" not in str(stored.tags)


def test_with_the_key_explain_attention_and_replay_use_the_exact_tokens(sealed):
    auditor, record, field, token, attention, replay = sealed
    opened = auditor.get(record.id, clear=True)
    assert (
        opened.input_ids == record.input_ids
        and opened.output_ids == record.output_ids
        and opened.prompt == record.prompt
    )
    assert replay.verdict == "identical" and replay.max_logprob_diff <= 1e-4
    assert token.logprob_max_diff <= 1e-4 and field.logprob_max_diff <= 1e-4
    with AuditStore.open(auditor.db_path) as store:
        raw = store.explanations.get(token.id)
        raw_attention = store.attention.latest(record.id)
    assert (
        raw.features[0] == "[TOKEN_1]" and raw.output_tokens[0] == "[OUT_1]" and raw_attention.tokens[0] == "[TOKEN_1]"
    )
    reopened = auditor.explanation(token.id)
    assert reopened.features == token.features and reopened.output_tokens == token.output_tokens
    assert "4111" in "".join(token.features)  # the clear labels really hold the card number
    assert auditor.verify().ok


def test_without_the_key_explain_and_replay_refuse_with_one_clear_message(sealed, tmp_path):
    auditor, record, *_ = sealed
    db = tmp_path / "copy.db"
    with AuditStore.open(auditor.db_path) as store:
        store.db.conn.execute(f"VACUUM INTO '{db}'")
    before = db.read_bytes()
    stranger = Auditor(db=db, model=auditor.loaded, key_store=tmp_path / "empty.keys.json")
    subject = record.tags["privacy"]["subject"]
    for call in (
        lambda: stranger.explain(record.id),
        lambda: stranger.replay(record.id),
        lambda: stranger.attention(record.id),
    ):
        with pytest.raises(
            UserError,
            match=f"sealed and key store .*empty.keys.json has no key for its data subject {subject}: pass --key-store",
        ):
            call()
    assert stranger.get(record.id).prompt.count("[CARD_1]") == 1  # reading the redacted form still works
    assert db.read_bytes() == before


def _policy(tmp_path: Path) -> Path:
    text = POLICY.read_text().replace('[demo]\ncases = ["credit_decision_pii.toml"]', "")
    text += '\n[retention.classes.short]\nminimum = "0 days"\nuse_cases = ["general"]\n'
    path = tmp_path / "policy.toml"
    path.write_text(text)
    return path


def test_retention_and_erasure_respect_minimum_and_holds_and_keep_the_log_verifying(tmp_path, tiny_loaded):
    auditor = Auditor(db=tmp_path / "r.db", model=tiny_loaded, policy=_policy(tmp_path))
    template = "Customer {customer_id}, card {card}. Approve?"
    long_kept = auditor.generate(
        template=template,
        variables={"customer_id": "C-1", "card": "4111 1111 1111 1111"},
        use_case="credit-decision",
        max_new_tokens=3,
    )
    short_a = auditor.generate(
        template=template, variables={"customer_id": "C-2", "card": "5555 5555 5555 4444"}, max_new_tokens=3
    )
    short_b = auditor.generate(
        template=template, variables={"customer_id": "C-3", "card": "378282246310005"}, max_new_tokens=3
    )

    with pytest.raises(UserError, match="within-minimum.*nothing was erased"):
        auditor.erase(subject="C-1", reason="GDPR Art. 17")
    auditor.hold(subject="C-2", reason="litigation 2026-CV-112")
    with pytest.raises(UserError, match="on-hold"):
        auditor.erase(record_id=short_a.id, reason="request")

    items, erased = auditor.retention(apply=True)
    states = {i.record_id: i.state for i in items}
    assert states == {long_kept.id: "within-minimum", short_a.id: "on-hold", short_b.id: "due"} and erased == [
        short_b.id
    ]
    assert auditor.get(long_kept.id, clear=True).output_ids == long_kept.output_ids
    assert auditor.get(short_a.id, clear=True).output_ids == short_a.output_ids
    with pytest.raises(UserError, match=r"erased on \d{4}-\d\d-\d\d under 'retention period ended'"):
        auditor.get(short_b.id, clear=True)

    auditor.hold(subject="C-2", reason="case closed", release=True)
    assert auditor.erase(subject="C-2", reason="GDPR Art. 17 request 14") == [short_a.id]
    items, erased = auditor.retention(apply=True)
    assert erased == [] and {i.state for i in items if i.record_id != long_kept.id} == {"erased"}
    assert auditor.verify().ok  # tombstones appended, nothing rewritten: the chain still verifies
    report = auditor.report([short_a.id], tmp_path / "d.html", generated_at="2026-01-01T00:00:00Z")
    html = report.path.read_text()
    assert "under &#39;GDPR Art. 17 request 14&#39;" in html and "Erased on" in html and "5555" not in html


def test_cli_refuses_a_readable_key_store_and_lists_retention(cli, tmp_path, sealed):
    auditor = sealed[0]
    keys = tmp_path / "k.json"
    shutil.copy(auditor.privacy.key_store_path, keys)
    keys.chmod(0o644)
    done = cli("--key-store", str(keys), "retention", "--db", str(auditor.db_path))
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0 and "chmod 600" in done.stderr
    keys.chmod(0o600)
    done = cli("--key-store", str(keys), "retention", "--db", str(auditor.db_path), "--json")
    assert done.returncode == 0, done.stderr
    import json

    assert json.loads(done.stdout)["counts"] == {"within-minimum": 1}


def test_demo_with_the_policy_leaves_no_planted_pii(tmp_path, tiny_loaded, monkeypatch):
    from audit.demo import run_demo

    monkeypatch.chdir(tmp_path)
    auditor = Auditor(db=tmp_path / "demo.db", model=tiny_loaded, policy=POLICY)
    cases = load_examples(REPO / "examples") + [load_case(p) for p in auditor.policy.demo_cases]
    for case in cases:
        case.generation["max_new_tokens"] = 6
    result = run_demo(auditor, cases, lambda line: None)
    n = len(cases)  # every example plus the policy's demo case
    assert len(result.records) == n and result.outputs["replay"].startswith(f"{n}/{n}")
    assert leaks(tmp_path / "demo.db") == [] and result.outputs["verify"].startswith("OK")
    assert "verified against the pinned key" in result.outputs["verify"]  # the demo pins its key in the trust file
    assert (tmp_path / "demo.db.pub.pem").exists() and "pinned in" in result.outputs["trust"]
    assert all(r.tags["privacy"]["sealed"] for r in result.records)
    html = "".join(p.read_text() for p in (tmp_path / "out").glob("*.html"))
    assert html and not [v for v in PLANTED if v in html]  # the reports show placeholders
    assert "Audit log integrity: verified" in (tmp_path / "out" / f"dossier-{result.records[0].id}.html").read_text()


def test_batch_explain_and_replay_open_sealed_records_and_store_them_sealed(sealed, tmp_path):
    """`explain --all` / `replay --all` send workers the opened record (exact ids) and store
    sealed labels; a record whose key is not here is skipped with the reason, not explained."""
    auditor, record, *_ = sealed
    db = tmp_path / "batch.db"
    with AuditStore.open(auditor.db_path) as store:
        store.db.conn.execute(f"VACUUM INTO '{db}'")
    keys = tmp_path / "keys.json"
    shutil.copy(auditor.privacy.key_store_path, keys)
    batch = Auditor(db=db, model=auditor.loaded, key_store=keys)
    summary = batch.explain_all(method="gradient-x-input", granularity="token")
    assert summary.stored == 1 and not summary.failures and not summary.skipped
    replays = batch.replay_all()
    assert replays.stored == 1 and batch.replays(replays.stored_ids)[0].verdict == "identical"
    with AuditStore.open(db) as store:
        raw = store.explanations.latest(record.id, method="gradient-x-input")
        raw_replay = store.replays.latest(record.id)
    assert raw.features[0] == "[TOKEN_1]" and set(raw_replay.replayed_output_ids) == {-1}
    opened = batch.explanations(record.id, method="gradient-x-input")[0]
    assert opened.features == batch.explain(record.id, method="gradient-x-input").features and "4111" in "".join(
        opened.features
    )
    assert leaks(db) == [] and batch.verify().ok

    stranger = Auditor(db=db, model=auditor.loaded, key_store=tmp_path / "empty.keys.json")
    skipped = stranger.explain_all(method="feature-ablation", granularity="field")
    assert skipped.stored == 0 and "no key for its data subject" in skipped.skipped[record.id]
