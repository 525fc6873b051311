"""pytest plugin (entry point ``llm_audit``): attribution checks inside a team's own test suite.

    def test_credit_explanation_is_stable(assert_attribution_stable):
        assert_attribution_stable("consumer-credit-decision", "tests/baseline.json", suite="tests/suite.toml")

The fixture shares one runner per test session, so the model loads once however many
cases are checked; ``--llm-audit-model`` points every check at another model folder.
"""
from __future__ import annotations

from functools import partial
from typing import Callable

import pytest

from .assertion import assert_attribution_stable as _assert
from .runner import Runner


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("llm-audit")
    group.addoption("--llm-audit-model", default=None, help="Model folder or hub id for attribution checks [the suite's model].")
    group.addoption("--llm-audit-device", default=None, help="Device for attribution checks [auto].")


@pytest.fixture(scope="session")
def llm_audit_runner(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Runner:
    """One runner (one loaded model per model spec) for the whole session, on a temporary database."""
    db = tmp_path_factory.mktemp("llm-audit") / "checks.db"
    return Runner(db, request.config.getoption("--llm-audit-model"), device=request.config.getoption("--llm-audit-device"))


@pytest.fixture
def assert_attribution_stable(llm_audit_runner: Runner) -> Callable:
    """``assert_attribution_stable(case, baseline, suite=None)``: raises AssertionError naming each failing metric."""
    return partial(_assert, runner=llm_audit_runner)
