"""Counterfactuals of one recorded decision: values, re-scoring on the recorded model, the smallest flip, evidence.

Every alternative's label log-probabilities are checked against a plain pass of the label scorer
over the edited prompt, tokenised from scratch; the smallest flip is checked against the stored
alternatives in the order given; the result is evidence (verify covers it, a forged row is caught);
and each bad input of the issue is one line, exit 2, with nothing stored.
"""

from __future__ import annotations

import json
import shutil

import pytest

from audit import Auditor
from audit.counterfactual.values import format_like, parse_values, swaps_for, variations_for
from audit.decision.generate import score_prompt
from audit.errors import UserError
from audit.store import AuditStore
from tests.forge import opened

pytestmark = pytest.mark.usefixtures("single_thread")

TEMPLATE = "Applicant {applicant_name}, age {age}. Income {income}, monthly debt {monthly_debt}, score {credit_score}."
VARIABLES = {
    "applicant_name": "Maria Garcia",
    "age": "34",
    "income": "$42,000",
    "monthly_debt": "$1,900",
    "credit_score": "580",
}
DECISION = {"labels": ["APPROVE", "DECLINE"], "favourable": "APPROVE", "protected": ["applicant_name", "age"]}


@pytest.fixture(scope="module")
def decided(tiny_loaded, tmp_path_factory):
    db = tmp_path_factory.mktemp("counterfactual") / "a.db"
    auditor = Auditor(db=db, model=tiny_loaded)
    record = auditor.generate(
        template=TEMPLATE, variables=VARIABLES, max_new_tokens=2, use_case="credit-decision", decision=DECISION
    )
    plain = auditor.generate(prompt="Summarise: yields rose.", max_new_tokens=2, use_case="news-summary")
    return auditor, record, plain


def test_values_lists_ranges_and_the_recorded_notation():
    assert parse_values("620,680,720", "s") == ["620", "680", "720"]
    assert parse_values("$55,000", "i") == ["$55,000"] and parse_values("$55,000,$70,000", "i") == [
        "$55,000",
        "$70,000",
    ]
    assert parse_values("600..760/40", "s") == ["600", "640", "680", "720", "760"]
    assert parse_values("760..600/-80", "s") == ["760", "680", "600"]
    assert parse_values("0.5..0.7/0.1", "r") == ["0.5", "0.6", "0.7"]
    assert format_like("1200", "$1,900") == "$1,200" and format_like("620", "580") == "620"
    assert format_like("3.5", "4.25%") == "3.50%" and format_like("high", "$1,900") == "high"
    for bad, message in [
        ("600..760/0", "zero step"),
        ("600..760/-20", "steps away from its end"),
        ("1..100000/1", "at most 1000"),
        ("620,,680", "empty value"),
        ("620,620", "listed twice"),
    ]:
        with pytest.raises(UserError, match=message):
            parse_values(bad, "s")
    with pytest.raises(UserError, match="is not FIELD=VALUES"):
        variations_for(["credit score=600"])
    with pytest.raises(UserError, match="no alternative given"):
        variations_for([])


def test_swap_files_and_example_tables(tmp_path):
    names = tmp_path / "names.toml"
    names.write_text(
        'note = "illustrative"\n[groups]\nfemale = ["Emily Walsh", "Anna Berg"]\nmale = ["James Miller"]\n'
    )
    example = tmp_path / "case.toml"
    example.write_text(
        '[fairness]\napplicant_name = "@names.toml"\nage = ["25", "45"]\n[counterfactuals]\nage = "30..50/10"\n'
    )
    swaps = {s.field: s for s in swaps_for(None, example)}
    assert swaps["applicant_name"].groups == {"female": ["Emily Walsh", "Anna Berg"], "male": ["James Miller"]}
    assert swaps["applicant_name"].note == "illustrative" and swaps["age"].groups == {"25": ["25"], "45": ["45"]}
    given = {s.field: s for s in swaps_for(["age=70"], example)}
    assert given["age"].groups == {"70": ["70"]}  # the command line wins over the file
    assert [v.values for v in variations_for(None, example)] == [["30", "40", "50"]]
    (tmp_path / "empty.toml").write_text("[groups]\nfemale = []\n")
    with pytest.raises(UserError, match="group 'female' is empty"):
        swaps_for(["applicant_name=@" + str(tmp_path / "empty.toml")])
    with pytest.raises(UserError, match="not found"):
        swaps_for(["applicant_name=@" + str(tmp_path / "missing.toml")])


def test_alternatives_are_the_edited_prompt_rescored_on_the_recorded_model(tiny_loaded, decided):
    auditor, record, _ = decided
    result = auditor.counterfactual(record.id, ["credit_score=600..700/50", "monthly_debt=1500,900"], pairs=True)
    d = record.decision
    assert result.recorded_chosen == d.chosen and result.labels == d.labels and result.logprob_max_diff <= 1e-4
    assert result.fields == {"credit_score": ["600", "650", "700"], "monthly_debt": ["$1,500", "$900"]}
    assert len(result.alternatives) == 3 + 2 + 3 * 2 and result.pairs
    label_ids = [d.label_token_ids[label] for label in d.labels]
    for alternative in result.alternatives:
        text = TEMPLATE.format(**{**VARIABLES, **alternative.changes})
        ids = tiny_loaded.tokenizer(text, add_special_tokens=record.add_special_tokens)["input_ids"]
        expected = score_prompt(tiny_loaded.model, ids, label_ids)
        for label, lp in zip(d.labels, expected):
            assert abs(alternative.label_logprobs[label] - lp) <= 1e-4
        best = max(d.labels, key=lambda label: alternative.label_logprobs[label])
        assert alternative.chosen == best and alternative.flips == (best != d.chosen)
        assert abs(sum(alternative.probabilities.values()) - 1) < 1e-9
    for name, index in result.smallest_flip.items():
        singles = [i for i, a in enumerate(result.alternatives) if list(a.changes) == [name]]
        first = next((i for i in singles if result.alternatives[i].flips), None)
        assert index == first
        if index is not None:
            a = result.alternatives[index]
            value = a.changes[name]
            assert (
                result.sentence(index)
                == f"{d.chosen} would have been {a.chosen} had the {name.replace('_', ' ')} been {value}"
            )


def test_the_smallest_flip_is_the_first_in_the_order_given(decided):
    auditor, record, _ = decided
    result = auditor.counterfactual(
        record.id, ["applicant_name=" + ",".join(["Emily Walsh", "James Miller", "Omar Khalil", "Ngozi Okafor"])]
    )
    flips = [i for i, a in enumerate(result.alternatives) if a.flips]
    assert result.smallest_flip["applicant_name"] == (flips[0] if flips else None)


def test_stored_as_evidence_verified_and_forgery_caught(decided, tmp_path, cli):
    auditor, record, _ = decided
    result = auditor.counterfactual(record.id, ["age=25,45,70"])
    with AuditStore.open(auditor.db_path) as store:
        latest = store.counterfactuals.latest(record.id)
        assert latest.id == result.id and latest.to_dict() == result.to_dict()
    assert auditor.verify().ok
    copy = tmp_path / "forged.db"
    shutil.copy(auditor.db_path, copy)
    with opened(copy) as conn:
        body = json.loads(conn.execute("SELECT body FROM counterfactuals WHERE id = ?", [result.id]).fetchone()[0])
        body["recorded_chosen"] = "FORGED"
        conn.execute("UPDATE counterfactuals SET body = ? WHERE id = ?", [json.dumps(body), result.id])
    forged = cli("verify", "--db", str(copy))
    assert forged.returncode == 1 and "counterfactual" in forged.stdout + forged.stderr


def test_cli_table_and_json(decided, tiny_model_dir, cli, cli_fast):
    auditor, record, _ = decided
    base = ["--db", str(auditor.db_path), "--model", str(tiny_model_dir)]
    shown = cli("counterfactual", record.id, "--vary", "credit_score=620,680", *base)
    assert shown.returncode == 0, shown.stderr
    assert "Smallest change that flips the decision" in shown.stdout and "620" in shown.stdout
    as_json = cli_fast("counterfactual", record.id, "--vary", "income=$55,000,$70,000", "--json", *base)
    data = json.loads(as_json.stdout)
    assert data["fields"] == {"income": ["$55,000", "$70,000"]} and data["record_id"] == record.id
    with AuditStore.open(auditor.db_path) as store:
        assert store.counterfactuals.latest(record.id).id == data["id"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--vary", "salary=1,2"], "has no field salary"),
        (["--vary", "credit_score=600..700/0"], "zero step"),
        (["--vary", "credit_score=580"], "every value given is the recorded one"),
        ([], "no alternative given"),
        (["--vary", "credit_score=600", "--pairs"], "--pairs needs at least two"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_stored(decided, tiny_model_dir, cli_fast, tmp_path, args, message):
    auditor, record, _ = decided
    db = tmp_path / "copy.db"
    shutil.copy(auditor.db_path, db)
    before = db.read_bytes()
    out = cli_fast("counterfactual", record.id, *args, "--db", str(db), "--model", str(tiny_model_dir))
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and db.read_bytes() == before


def test_records_without_a_decision_or_template_are_refused(decided):
    auditor, _, plain = decided
    with pytest.raises(UserError, match="has no decision to re-score"):
        auditor.counterfactual(plain.id, ["x=1"])


def test_another_model_is_refused(decided, tmp_path):
    from audit.model import load_model
    from tests.conftest import build_tiny_model

    auditor, record, _ = decided
    other = load_model(str(build_tiny_model(tmp_path / "other", seed=1)), device="cpu")
    with pytest.raises(UserError, match="re-scores on the recorded model only"):
        auditor.with_model(other).counterfactual(record.id, ["age=40"])


def test_protected_fields_are_checked_and_recorded(decided, tiny_loaded, tmp_path):
    _, record, _ = decided
    assert record.decision.protected == ["applicant_name", "age"]
    auditor = Auditor(db=tmp_path / "p.db", model=tiny_loaded)
    spec = {**DECISION, "reasons": {"age": "Age"}}
    with pytest.raises(UserError, match="prohibited basis"):
        auditor.generate(template=TEMPLATE, variables=VARIABLES, decision=spec)
    with pytest.raises(UserError, match="no such field"):
        auditor.generate(template=TEMPLATE, variables=VARIABLES, decision={**DECISION, "protected": ["race"]})
