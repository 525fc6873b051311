"""Suite files: example-case reuse, defaults, and one-line refusals for mistakes."""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.checks.suite import load_suite
from audit.errors import UserError

REPO = Path(__file__).resolve().parents[2]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_case_reuses_an_example_file_with_defaults_and_overrides(tmp_path: Path) -> None:
    suite = load_suite(
        write(
            tmp_path / "s.toml",
            f"""
[suite]
name = "finance"
[defaults]
method = "feature-ablation"
[defaults.generation]
max_new_tokens = 8
[defaults.thresholds]
spearman = 0.95
kendall = false

[[case]]
file = "{REPO / "examples" / "credit_decision.toml"}"
[case.thresholds]
top_k = 2

[[case]]
name = "plain"
prompt = "Rates rose today because"
method = "shapley-sampling"
granularity = "token"
stability_seeds = 4
[case.params]
n_samples = 5
""",
        )
    )
    credit, plain = suite.cases
    assert suite.name == "finance"
    assert credit.name == "consumer-credit-decision" and credit.granularity == "field"
    assert credit.generation == {"max_new_tokens": 8}  # the suite's default beats the example's 40
    assert credit.inputs["variables"]["credit_score"] == "580" and credit.inputs["system"].startswith(
        "You are a credit analyst"
    )
    assert (credit.thresholds.spearman, credit.thresholds.kendall, credit.thresholds.top_k) == (0.95, None, 2)
    assert credit.stability_seeds == 1 and credit.faithfulness
    assert plain.stochastic and plain.stability_seeds == 4 and plain.params == {"n_samples": 5}
    # thresholds are not part of what the baseline must match; inputs are
    before = credit.definition_sha256()
    credit.thresholds.spearman = 0.5
    assert credit.definition_sha256() == before
    credit.inputs["variables"]["income"] = "$90,000"
    assert credit.definition_sha256() != before


@pytest.mark.parametrize(
    "body,message",
    [
        ("[[case]]\nname='a'\nprompt='x'\nmethod='magic'", "unknown method 'magic'"),
        ("[[case]]\nname='a'\nprompt='x'\ngranularity='field'", "field granularity needs a template"),
        ("[[case]]\nname='a'\nprompt='x'\n[case.thresholds]\nspearmann=0.9", "unknown threshold(s) spearmann"),
        ("[[case]]\nname='a'\nprompt='x'\n[[case]]\nname='a'\nprompt='y'", "case name(s) a used twice"),
        ("[[case]]\nname='a'", "needs exactly one of prompt, template, messages"),
        ("[suite]\nname='x'", "has no cases"),
        ("[[case]]\nname='a'\nfile='missing.toml'", "example file missing.toml not found"),
        ("[[case\nname='a'", "is not valid TOML"),
    ],
)
def test_bad_suites_are_refused_with_the_fix(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(UserError, match=None) as info:
        load_suite(write(tmp_path / "s.toml", body))
    assert message in str(info.value)


def test_missing_suite_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="suite file .* not found"):
        load_suite(tmp_path / "nope.toml")
