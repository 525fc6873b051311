"""TAMPERED means proven altered: a result whose only problems are requirements the caller set (--require-signed,
--witnesses N) says NOT PROVEN; any other check's problem says TAMPERED. Generated over every check verify has."""

from __future__ import annotations

import pytest

from audit.integrity.results import CHECKS, REQUIREMENTS, Problem, VerifyResult


def result_with(*checks: str) -> VerifyResult:
    return VerifyResult(database="x.db", problems=[Problem(check, 1, f"{check} problem") for check in checks])


@pytest.mark.parametrize("check", CHECKS)
def test_each_check_alone_has_its_word(check: str) -> None:
    summary = result_with(check).summary()
    word = "NOT PROVEN" if check in REQUIREMENTS else "TAMPERED"
    assert summary.startswith(f"{word}: seq 1: {check} problem")


@pytest.mark.parametrize("altered", sorted(set(CHECKS) - REQUIREMENTS))
def test_an_alteration_beside_an_unmet_requirement_is_tampered(altered: str) -> None:
    for requirement in REQUIREMENTS:
        assert result_with(requirement, altered).summary().startswith("TAMPERED: ")


def test_requirements_are_checks_verify_knows() -> None:
    assert REQUIREMENTS <= set(CHECKS) and len(set(CHECKS)) == len(CHECKS)
