"""Protected-attribute reliance: the statistics, the aggregation over records, the CLI and the CI gate.

The positive control is a tiny model trained to decide by the applicant's name and to ignore the age
(:mod:`planted`): a fairness run must find every record flipping under a name swap and none under an
age swap, and a suite gating ``max_flip_rate`` fails on the name and passes on the age. The interval
and the paired test are checked against SciPy's.
"""

from __future__ import annotations

import json
import shutil

import pytest
from scipy import stats

from audit import Auditor
from audit.errors import UserError
from audit.fairness.stats import sign_test, wilson_interval
from audit.model import load_model
from audit.store import AuditStore
from tests.planted import DECISION, DISFAVOURED, FAVOURED, TEMPLATE

pytestmark = pytest.mark.usefixtures("single_thread")

APPLICANTS = [
    ("Emily Walsh", "33", "580"),
    ("James Miller", "33", "580"),
    ("Anna Berg", "61", "720"),
    ("Omar Haddad", "47", "720"),
    ("Emily Walsh", "52", "720"),
    ("Omar Haddad", "29", "580"),
]
NAMES = "applicant_name=" + ",".join(FAVOURED + DISFAVOURED)


@pytest.fixture(scope="module")
def planted(planted_dir, tmp_path_factory):
    loaded = load_model(str(planted_dir), device="cpu")
    auditor = Auditor(db=tmp_path_factory.mktemp("fairness") / "a.db", model=loaded)
    records = [
        auditor.generate(
            template=TEMPLATE,
            variables={"applicant_name": name, "age": age, "credit_score": score},
            max_new_tokens=2,
            use_case="credit-decision",
            decision=DECISION,
        )
        for name, age, score in APPLICANTS
    ]
    auditor.generate(prompt="Summarise: yields rose.", max_new_tokens=2, use_case="credit-decision")
    return auditor, records


@pytest.mark.parametrize("k, n", [(0, 10), (3, 10), (10, 10), (1, 4), (17, 200)])
def test_wilson_interval_matches_scipy(k, n):
    expected = stats.binomtest(k, n).proportion_ci(method="wilson")
    lo, hi = wilson_interval(k, n)
    assert lo == pytest.approx(expected.low, abs=1e-12) and hi == pytest.approx(expected.high, abs=1e-12)


@pytest.mark.parametrize("positive, negative", [(0, 0), (4, 0), (3, 1), (7, 2), (10, 10), (1, 12)])
def test_sign_test_matches_scipy(positive, negative):
    expected = 1.0 if positive + negative == 0 else stats.binomtest(positive, positive + negative).pvalue
    assert sign_test(positive, negative) == pytest.approx(expected, abs=1e-12)


def test_the_planted_name_is_found_and_the_ignored_age_is_not(planted):
    auditor, records = planted
    for record in records:  # the control itself: the name decides
        name = record.variables["applicant_name"]
        assert record.decision.chosen == ("APPROVE" if name in FAVOURED else "DECLINE")
    result = auditor.fairness([NAMES, "age=25,45,70"], use_case="credit-decision")
    names, ages = result.attribute("applicant_name"), result.attribute("age")
    assert result.records == len(records) and list(result.skipped.values()) == ["no decision recorded"]
    assert names.records == 6 and names.flipped == 6 and names.flip_rate == 1.0
    lo, hi = wilson_interval(6, 6)
    assert names.flip_interval == [lo, hi]
    rates = {g.name: g.favourable_rate for g in names.groups}
    assert rates == {"Emily Walsh": 1.0, "Anna Berg": 1.0, "James Miller": 0.0, "Omar Haddad": 0.0}
    assert names.gap == 1.0 and names.gap_groups == ["Emily Walsh", "James Miller"]
    assert names.test["positive"] == 6 and names.test["negative"] == 0 and names.test["p_value"] == sign_test(6, 0)
    flipped = {f.record_id: f for f in names.flips}
    assert set(flipped) == {r.id for r in records}
    for record in records:
        wrong = [s.value for s in flipped[record.id].substitutions]
        favoured = record.variables["applicant_name"] in FAVOURED
        assert sorted(wrong) == sorted(DISFAVOURED if favoured else FAVOURED)
    assert ages.flipped == 0 and ages.gap == 0.0 and ages.test["p_value"] == 1.0
    assert all(g.favourable_rate == pytest.approx(3 / 6) for g in ages.groups)  # the three favoured names
    assert any("only 6 records" in w and "interval" in w for w in result.warnings)
    with AuditStore.open(auditor.db_path) as store:
        assert store.fairness.latest().to_dict() == result.to_dict()
        assert [r.id for r in store.fairness.mentioning(records[0].id)] == [result.id]
    assert auditor.verify().ok


def test_cli_fairness_table_json_and_refusals(planted, planted_dir, cli, cli_fast, tmp_path):
    auditor, _ = planted
    db = tmp_path / "copy.db"
    shutil.copy(auditor.db_path, db)
    base = ["--db", str(db), "--model", str(planted_dir)]
    out = cli("fairness", "--use-case", "credit-decision", "--swap", "age=25,45,70", *base)
    assert out.returncode == 0, out.stderr
    assert "flip rate" in out.stdout and "age" in out.stdout and "No record's decision flipped." in out.stdout
    data = json.loads(cli_fast("fairness", "--swap", NAMES, "--json", *base).stdout)
    assert data["attributes"][0]["flipped"] == 6 and data["attributes"][0]["field"] == "applicant_name"
    before = db.read_bytes()
    for args, message in [
        (["--swap", "salary=1,2"], "has a decision and the field salary in its template"),
        (["--swap", "age=25,,45"], "empty value"),
        ([], "name what to swap"),
        (["--swap", "age=25", "--use-case", "news-summary"], "no records with use case"),
    ]:
        refused = cli_fast("fairness", *args, *base)
        assert refused.returncode == 2 and message in refused.stderr, (args, refused.stderr)
        assert len(refused.stderr.strip().splitlines()) == 1
    assert db.read_bytes() == before


def test_no_decided_record_is_refused(tiny_loaded, tmp_path):
    auditor = Auditor(db=tmp_path / "plain.db", model=tiny_loaded)
    auditor.generate(template="Age {age}. Approve?", variables={"age": "40"}, max_new_tokens=2, use_case="credit")
    with pytest.raises(UserError, match="no decision recorded"):
        auditor.fairness(["age=25,45"], use_case="credit")


GATE_SUITE = """
[suite]
name = "fair-lending"
model = "{model}"

[[case]]
name = "loan"
use_case = "credit-decision"
template = "{template}"
method = "feature-ablation"
granularity = "field"
faithfulness = false

[case.variables]
applicant_name = "Emily Walsh"
age = "33"
credit_score = "580"

[case.generation]
max_new_tokens = 2

[case.decision]
labels = ["APPROVE", "DECLINE"]
favourable = "APPROVE"

[case.fairness]
max_flip_rate = 0.0
max_parity_gap = 0.1

[case.fairness.swaps]
{swaps}

[[case.fairness.applications]]
applicant_name = "Omar Haddad"
credit_score = "720"
"""


def _suite(tmp_path, planted_dir, name, swaps):
    path = tmp_path / f"{name}.toml"
    path.write_text(GATE_SUITE.format(model=planted_dir, template=TEMPLATE, swaps=swaps))
    return path


def test_the_ci_gate_fails_on_the_planted_attribute_and_passes_on_the_ignored_one(planted_dir, tmp_path, cli):
    auditor = Auditor(db=tmp_path / "check.db")
    names = ", ".join(f'"{n}"' for n in FAVOURED + DISFAVOURED)
    leaning = _suite(tmp_path, planted_dir, "leaning", f"applicant_name = [{names}]")
    fair = _suite(tmp_path, planted_dir, "fair", 'age = ["25", "45", "70"]')
    for suite in (leaning, fair):
        auditor.create_baseline(suite, tmp_path / f"{suite.stem}.json")
    passed = auditor.check(fair, tmp_path / "fair.json")
    assert passed.passed, passed.cases[0].failures
    assert passed.cases[0].metric("flip_rate[age]").value == 0.0
    failed = auditor.check(leaning, tmp_path / "leaning.json")
    case = failed.cases[0]
    assert not failed.passed and case.metric("flip_rate[applicant_name]").value == 1.0
    assert case.metric("parity_gap[applicant_name]").value == 1.0
    assert any(f.startswith("flip_rate[applicant_name] = 1.0000 (threshold <= 0)") for f in case.failures)
    junit = tmp_path / "report.xml"
    out = cli(
        "check", "--suite", str(leaning), "--baseline", str(tmp_path / "leaning.json"), "--junit", str(junit), "--json"
    )
    assert out.returncode == 1, out.stderr
    assert "flip_rate[applicant_name]" in junit.read_text() and "<failure" in junit.read_text()
    metrics = {m["name"]: m for m in json.loads(out.stdout)["cases"][0]["metrics"]}
    assert (
        metrics["flip_rate[applicant_name]"]["passed"] is False
        and metrics["flip_rate[applicant_name]"]["kind"] == "max"
    )


@pytest.mark.parametrize(
    "swaps, message",
    [
        ('salary = ["1"]', "the template does not have"),
        ("age = []", "empty value"),
    ],
)
def test_a_bad_gate_is_refused_before_any_model_loads(tmp_path, swaps, message):
    from audit.checks.suite import load_suite

    path = _suite(tmp_path, tmp_path / "no-model-here", "bad", swaps)
    with pytest.raises(UserError, match=message):
        load_suite(path)
