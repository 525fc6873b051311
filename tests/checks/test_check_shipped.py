"""The shipped CI suite passes against its committed baseline, from a clean state (a fresh database).

A gate that fails on the run that made its baseline measures its own noise: `llm-audit check` on
`examples/ci/suite.toml` must exit 0 against `examples/ci/baseline.json` as a fresh clone runs it.
(`examples/ci/fairness.toml` fails by design on SmolLM2: that failure is its documented finding.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.integration
def test_the_shipped_suite_passes_against_its_committed_baseline(cli, tmp_path):
    done = cli(
        "check",
        "--suite",
        str(REPO / "examples" / "ci" / "suite.toml"),
        "--baseline",
        str(REPO / "examples" / "ci" / "baseline.json"),
        "--db",
        str(tmp_path / "fresh.db"),
        env={"OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    baseline = json.loads((REPO / "examples" / "ci" / "baseline.json").read_text())
    assert "consumer-credit-decision-reasons" in baseline["cases"] and len(baseline["cases"]) == 4
    assert "finance-examples: passed" in done.stdout
