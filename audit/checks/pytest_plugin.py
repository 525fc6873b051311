"""pytest plugin (entry point ``llm_audit``): attribution checks inside a team's own test suite.

    def test_credit_explanation_is_stable(assert_attribution_stable):
        assert_attribution_stable("consumer-credit-decision", "ci/baseline.json", suite="ci/suite.toml")

The fixture shares one runner per test session, so the model loads once however many
cases are checked; ``--llm-audit-model`` points every check at another model folder.
Imports of torch and the model code happen inside the fixtures: installing llm-audit
must not slow down every other pytest run in the same environment.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("llm-audit")
    group.addoption(
        "--llm-audit-model", default=None, help="Model folder or hub id for attribution checks [the suite's model]."
    )
    group.addoption("--llm-audit-device", default=None, help="Device for attribution checks [auto].")


@pytest.fixture(scope="session")
def llm_audit_runner(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One :class:`audit.checks.Runner` (one loaded model per model spec) for the session, on a temporary database."""
    from ..auditor import Auditor
    from .runner import Runner

    db = tmp_path_factory.mktemp("llm-audit") / "checks.db"
    model, device = request.config.getoption("--llm-audit-model"), request.config.getoption("--llm-audit-device")
    return Runner.on(Auditor(db, model, device=device))


@pytest.fixture
def assert_attribution_stable(llm_audit_runner: Any) -> Callable:
    """``assert_attribution_stable(case, baseline, suite=None)``: raises AssertionError naming each failing metric."""
    from .assertion import assert_attribution_stable as check

    return partial(check, runner=llm_audit_runner)
