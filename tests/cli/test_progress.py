"""Progress when stderr is not a terminal (CI, a pipe): plain lines, no carriage returns, stdout untouched.

``LLM_AUDIT_PROGRESS_SECONDS=0`` makes every step print at once, so the lines are exact without any
timing; the suite otherwise runs with progress off (tests/conftest.py).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

TEMPLATE = "Income {income}, credit score {score}. Approve the loan?"
DECISION = {"labels": ["APPROVE", "DECLINE"], "favourable": "APPROVE"}


@pytest.fixture(scope="module")
def three(tiny_loaded, tmp_path_factory) -> Path:
    from audit import Auditor

    db = tmp_path_factory.mktemp("progress") / "audit.db"
    auditor = Auditor(db=db, model=tiny_loaded)
    for score in (580, 640, 700):
        auditor.generate(
            template=TEMPLATE,
            variables={"income": "$42,000", "score": score},
            decision=DECISION,
            use_case="credit-decision",
            max_new_tokens=3,
        )
    return db


def test_explain_all_prints_plain_progress_lines_on_a_pipe(three: Path, tiny_model_dir: Path, cli) -> None:
    args = ["explain", "--all", "--db", str(three), "--model", str(tiny_model_dir), "--json"]
    done = cli(*args, env={"LLM_AUDIT_PROGRESS_SECONDS": "0"})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["stored"] == 3  # the progress went to stderr, stdout is the JSON alone
    assert "\r" not in done.stderr and "\x1b" not in done.stderr
    # The batch's closing checkpoint is this log's first: it pins the log's key once, on its own line.
    lines = [line for line in done.stderr.splitlines() if not line.startswith("llm-audit: pinned key ")]
    model = f"loading model {tiny_model_dir}"
    assert lines[0] == "explanations: 0/3 records"
    assert lines[1] == f"{model} ..." and re.fullmatch(rf"{re.escape(model)}: done \(\d+ s\)", lines[2])
    assert re.fullmatch(r"explanations: 1/3 records, \d+ s, about \d+ s left", lines[3])
    assert re.fullmatch(r"explanations: 2/3 records, \d+ s, about \d+ s left", lines[4])
    assert re.fullmatch(r"explanations: 3/3 records, done in \d+ s", lines[5]) and len(lines) == 6


def test_fairness_progress_and_off(three: Path, tiny_model_dir: Path, cli) -> None:
    args = ["fairness", "--swap", "score=580,700", "--db", str(three), "--model", str(tiny_model_dir)]
    shown = cli(*args, env={"LLM_AUDIT_PROGRESS_SECONDS": "0"})
    assert shown.returncode == 0, shown.stderr
    lines = shown.stderr.splitlines()
    assert lines[0] == "fairness: 0/3 records" and f"loading model {tiny_model_dir} ..." in lines
    assert re.fullmatch(r"fairness: 3/3 records, done in \d+ s", lines[-1])
    silent = cli(*args, env={"LLM_AUDIT_PROGRESS_SECONDS": "off"})
    assert silent.returncode == 0 and silent.stderr == ""
    assert silent.stdout.startswith("all records:") and shown.stdout.startswith("all records:")
