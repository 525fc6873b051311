"""Baseline files and the comparison: a fresh baseline passes, a perturbed one fails naming the metric.

The attributions here are constructed (the explainer has its own tests); the record is a
real generation of the tiny model, so output ids and identities are genuine.
"""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from audit import Auditor
from audit.attribution import AttributionResult
from audit.checks.baseline import build_baseline, dumps, load_baseline, parse_baseline, write_baseline
from audit.checks.compare import compare_case
from audit.checks.run import CaseRun
from audit.checks.runner import SuiteResult
from audit.checks.suite import parse_suite
from audit.checks.suite_junit import suite_junit
from audit.errors import UserError

SUITE = {
    "suite": {"name": "unit"},
    "case": [
        {
            "name": "credit",
            "template": "Income {income}, score {score}, debt {debt}, job {job}. Approve?",
            "variables": {"income": "$42,000", "score": "580", "debt": "$1,900", "job": "retail"},
            "generation": {"max_new_tokens": 5},
            "faithfulness": False,
        }
    ],
}
ATTR = np.array([0.8, -0.3, 0.5, 0.05], dtype=np.float32)


@pytest.fixture(scope="module")
def record(tiny_loaded, tmp_path_factory):
    case = parse_suite(copy.deepcopy(SUITE), Path.cwd()).cases[0]
    return Auditor(db=tmp_path_factory.mktemp("cmp") / "a.db", model=tiny_loaded).generate(**case.generate_kwargs())


def make_run(record, attr=ATTR, suite=SUITE) -> CaseRun:
    case = parse_suite(copy.deepcopy(suite), Path.cwd()).cases[0]
    token_attr = np.vstack([attr * (i + 1) / 5 for i in range(len(record.output_ids))]).astype(np.float32)
    attribution = AttributionResult(
        record_id=record.id,
        method=case.method,
        granularity=case.granularity,
        features=list(record.variables),
        output_tokens=[f"t{i}" for i in record.output_ids],
        token_attr=token_attr,
        seq_attr=np.asarray(attr, dtype=np.float32),
        params={"baseline_token": 0},
        seconds=0.1,
    )
    return CaseRun(case=case, record=record, attribution=attribution, runs=[attribution], seconds=1.5)


def baseline_of(run: CaseRun):
    suite = parse_suite(copy.deepcopy(SUITE), Path.cwd())
    return parse_baseline(json.loads(dumps(build_baseline(suite, [run]))))


def test_fresh_baseline_passes_with_perfect_scores(record) -> None:
    run = make_run(record)
    result = compare_case(run, baseline_of(run))
    assert result.passed, result.failures
    values = {m.name: m.value for m in result.metrics}
    assert values == {"spearman": 1.0, "kendall": 1.0, "top3_jaccard": 1.0, "sign_agreement": 1.0, "relative_l2": 0.0}


def test_swapped_top_features_fail_rank_metrics(record) -> None:
    run = make_run(record)
    data = json.loads(dumps(build_baseline(parse_suite(copy.deepcopy(SUITE), Path.cwd()), [run])))
    seq = data["cases"]["credit"]["attribution"]["seq_attr"]
    seq[0], seq[1] = seq[1], seq[0]  # income and score swap: rho = 1 - 6 * (9 + 9) / (4 * 15) = -0.8
    result = compare_case(run, parse_baseline(data))
    assert not result.passed
    failed = {m.name for m in result.metrics if not m.passed}
    assert {"spearman", "kendall", "sign_agreement", "relative_l2"} <= failed
    assert any(f.startswith("spearman = -0.8000 (threshold >= 0.9)") for f in result.failures), result.failures
    assert not any("output changed" in f for f in result.failures)


def test_changed_output_id_fails_naming_the_step(record) -> None:
    run = make_run(record)
    data = json.loads(dumps(build_baseline(parse_suite(copy.deepcopy(SUITE), Path.cwd()), [run])))
    data["cases"]["credit"]["output_ids"][2] += 1
    result = compare_case(run, parse_baseline(data))
    assert not result.passed
    assert result.failures[0].startswith("output changed at step 2: baseline 't")
    assert f"now 't{record.output_ids[2]}' (id {record.output_ids[2]})" in result.failures[0]


def test_edited_template_fails_as_changed_definition(record) -> None:
    run = make_run(record)
    baseline = baseline_of(run)
    edited = copy.deepcopy(SUITE)
    edited["case"][0]["template"] = edited["case"][0]["template"].replace("Approve?", "Decline?")
    result = compare_case(make_run(record, suite=edited), baseline)
    assert result.failures[0].startswith("case definition changed since the baseline (inputs.template)")


def test_baseline_file_is_stable_and_diffable(record, tmp_path: Path) -> None:
    run = make_run(record)
    suite = parse_suite(copy.deepcopy(SUITE), Path.cwd())
    first = write_baseline(build_baseline(suite, [run]), tmp_path / "a.json").read_bytes()
    second = write_baseline(build_baseline(suite, [run]), tmp_path / "b.json").read_bytes()
    assert first == second
    text = first.decode()
    assert '"seq_attr": [0.8, -0.3, 0.5, 0.05]' in text  # rounded, one line per vector
    data = json.loads(text)
    assert list(data) == sorted(data)
    entry = data["cases"]["credit"]
    assert entry["output_ids"] == record.output_ids and entry["output_text"] == record.output_text
    assert data["model"]["weights_sha256"] == record.model.weights_sha256
    assert data["environment"]["packages"]["torch"] == record.environment.packages["torch"]
    assert load_baseline(tmp_path / "a.json").entry("credit")["definition_sha256"] == suite.cases[0].definition_sha256()


def test_bad_baselines_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not found: create it with llm-audit baseline create"):
        load_baseline(tmp_path / "none.json")
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(UserError, match="is not valid JSON"):
        load_baseline(tmp_path / "x.json")
    (tmp_path / "y.json").write_text('{"cases": {}}')
    with pytest.raises(UserError, match="is not an llm-audit baseline"):
        load_baseline(tmp_path / "y.json")


def test_junit_has_the_shape_ci_tools_read(record) -> None:
    good = make_run(record)
    baseline = baseline_of(good)
    bad = compare_case(make_run(record, attr=ATTR[::-1].copy()), baseline)
    result = SuiteResult(suite="unit", cases=[compare_case(good, baseline), bad], seconds=3.25)
    root = ET.fromstring(suite_junit(result, timestamp=0.0))
    assert (
        root.tag == "testsuites"
        and root.get("tests") == "2"
        and root.get("failures") == "1"
        and root.get("errors") == "0"
    )
    (suite,) = root.findall("testsuite")
    assert (suite.get("name"), suite.get("tests"), suite.get("failures"), suite.get("skipped"), suite.get("time")) == (
        "unit",
        "2",
        "1",
        "0",
        "3.250",
    )
    assert suite.get("timestamp") == "1970-01-01T00:00:00.000000Z"
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["credit", "credit"] and all(float(c.get("time")) == 1.5 for c in cases)
    assert cases[0].find("failure") is None
    failure = cases[1].find("failure")
    assert failure.get("message") == bad.failures[0] and failure.get("type") == "AttributionCheckFailure"
    assert "spearman" in failure.text and "threshold" in failure.text
    assert "spearman = 1.0000" in cases[0].find("system-out").text
