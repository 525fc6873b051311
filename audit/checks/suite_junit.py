"""The suite result as JUnit cases: one per case, failing metrics as the failure, figures as output."""

from __future__ import annotations

from ..junit import JUnitCase, junit_xml
from .runner import SuiteResult


def suite_junit(result: SuiteResult, timestamp: float | None = None) -> str:
    cases = []
    for case in result.cases:
        lines = [m.describe() for m in case.metrics] + case.notes + [f"output: {' '.join(case.output_text.split())}"]
        cases.append(
            JUnitCase(
                name=case.name,
                classname=f"llm-audit.{result.suite}",
                seconds=case.seconds,
                failure=None if case.passed else case.failures[0],
                details="\n".join(case.failures),
                output="\n".join(lines),
                failure_type="AttributionCheckFailure",
            )
        )
    return junit_xml("llm-audit check", result.suite, cases, seconds=result.seconds, timestamp=timestamp)
