"""``llm-audit baseline create`` / ``llm-audit check`` as a CI job calls them, on the tiny model."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def suite_text(model_dir: Path, question: str = "Approve?") -> str:
    return f"""
[suite]
name = "tiny"
model = "{model_dir}"

[defaults.generation]
max_new_tokens = 4

[defaults.thresholds]
comprehensiveness_gain = false  # a random-weight model has nothing faithful to find
sufficiency_gain = false

[[case]]
name = "credit"
system = "You are a credit analyst."
template = "Income {{income}}, score {{score}}, debt {{debt}}. {question}"
variables = {{ income = "$42,000", score = "580", debt = "$1,900" }}
method = "feature-ablation"
granularity = "field"
random_orders = 2

[[case]]
name = "news"
prompt = "Markets fell after the central bank"
method = "shapley-sampling"
granularity = "token"
stability_seeds = 2
faithfulness = false
[case.params]
n_samples = 2
[case.thresholds]
stability = 0.3  # two Shapley samples on a random-weight model agree at rho = 0.5
"""


@pytest.fixture(scope="module")
def created(tiny_model_dir: Path, tmp_path_factory) -> tuple[Path, Path, subprocess.CompletedProcess]:
    folder = tmp_path_factory.mktemp("ci")
    suite = folder / "suite.toml"
    suite.write_text(suite_text(tiny_model_dir))
    baseline = folder / "baseline.json"
    done = subprocess.run(
        [sys.executable, "-m", "audit", "baseline", "create", "--suite", str(suite), "-o", str(baseline)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    return suite, baseline, done


def test_fresh_baseline_passes_with_junit_and_json(created, tmp_path: Path) -> None:
    suite, baseline, done = created
    assert done.returncode == 0, done.stderr
    assert f"wrote {baseline} (2 cases)" in done.stdout
    data = json.loads(baseline.read_text())
    assert sorted(data["cases"]) == ["credit", "news"]
    assert data["cases"]["credit"]["attribution"]["features"] == ["income", "score", "debt"]
    assert data["cases"]["news"]["stability"]["runs"] == 2
    report = tmp_path / "report.xml"
    check = subprocess.run(
        [
            sys.executable,
            "-m",
            "audit",
            "check",
            "--suite",
            str(suite),
            "--baseline",
            str(baseline),
            "--junit",
            str(report),
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    result = json.loads(check.stdout)  # progress went to stderr, stdout is pure JSON
    assert (result["passed"], result["cases_total"], result["cases_failed"]) == (True, 2, 0)
    credit = result["cases"][0]
    assert {m["name"]: m["value"] for m in credit["metrics"]}["spearman"] == 1.0
    assert "[1/2] credit" in check.stderr
    root = ET.parse(report).getroot()
    assert (root.tag, root.get("tests"), root.get("failures")) == ("testsuites", "2", "0")


def test_edited_template_fails_with_a_clear_message(created, tmp_path: Path, tiny_model_dir: Path, cli) -> None:
    """What a CI log shows when someone edits a prompt template: exit 1, the case, why, and where the output moved."""
    _, baseline, done = created
    assert done.returncode == 0, done.stderr
    edited = tmp_path / "suite.toml"
    edited.write_text(suite_text(tiny_model_dir, "Decline?"))
    report = tmp_path / "report.xml"
    check = cli("check", "--suite", str(edited), "--baseline", str(baseline), "--junit", str(report))
    assert check.returncode == 1, check.stdout + check.stderr
    lines = check.stdout.splitlines()
    assert (
        "FAIL credit: case definition changed since the baseline (inputs.template): review the new output and re-create the baseline"
        in lines
    )
    changed = [line for line in lines if line.startswith("FAIL credit: output changed at step ")]
    assert len(changed) == 1 and ", now " in changed[0] and "baseline " in changed[0]
    assert not any(line.startswith("FAIL news") for line in lines)
    assert lines[-1].startswith("tiny: FAILED (1 of 2 cases)")
    failure = ET.parse(report).getroot().find("testsuite/testcase[@name='credit']/failure")
    assert failure is not None and "inputs.template" in failure.get("message", "") + (failure.text or "")


def test_cannot_run_is_exit_2_and_one_line(created, tmp_path: Path, cli, cli_fast) -> None:
    suite, baseline, _ = created
    missing = cli("check", "--suite", str(suite), "--baseline", str(tmp_path / "none.json"))
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    assert missing.stderr.startswith("Error: baseline ") and "llm-audit baseline create" in missing.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text("[[case]]\nname = 'x'\nprompt = 'y'\nmethod = 'astrology'\n")
    refused = cli_fast("check", "--suite", str(bad), "--baseline", str(baseline))
    assert (
        refused.returncode == 2 and "unknown method 'astrology'" in refused.stderr and "Traceback" not in refused.stderr
    )
    other = tmp_path / "other.toml"
    other.write_text("[[case]]\nname = 'unknown-case'\nprompt = 'y'\n")
    absent = cli_fast("check", "--suite", str(other), "--baseline", str(baseline))
    assert absent.returncode == 2 and "has no case 'unknown-case'" in absent.stderr


def test_pytest_plugin_fixture(created, tmp_path: Path) -> None:
    """The fixture arrives through the installed ``pytest11`` entry point, as a team gets it."""
    suite, baseline, done = created
    assert done.returncode == 0, done.stderr
    (tmp_path / "test_team.py").write_text(f"""
import pytest

def test_stable(assert_attribution_stable):
    result = assert_attribution_stable("credit", r"{baseline}", suite=r"{suite}")
    assert result.passed and result.metric("spearman").value == 1.0

def test_fails_loudly(assert_attribution_stable, tmp_path):
    import json
    data = json.loads(open(r"{baseline}").read())
    data["cases"]["credit"]["output_ids"][0] += 1
    (tmp_path / "b.json").write_text(json.dumps(data))
    with pytest.raises(AssertionError, match="output changed at step 0"):
        assert_attribution_stable("credit", tmp_path / "b.json", suite=r"{suite}")
""")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path / "test_team.py")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
        env={**__import__("os").environ, "PYTHONPATH": str(REPO)},
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 passed" in run.stdout


def test_entry_point_declared() -> None:
    import importlib
    import tomllib

    entry = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"]["pytest11"]["llm_audit"]
    module = importlib.import_module(entry)
    assert callable(module.pytest_addoption) and hasattr(module, "assert_attribution_stable")
