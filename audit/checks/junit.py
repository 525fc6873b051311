"""JUnit XML, the report format CI systems (GitHub Actions annotations, GitLab, Jenkins) display.

One ``<testsuite>`` per suite file, one ``<testcase>`` per case, a ``<failure>`` whose
``message`` is the headline and whose text lists every failing metric; the metric table
goes to ``<system-out>`` so passing cases still show their figures.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from ..clock import utc_iso
from ..errors import UserError
from .runner import SuiteResult


def junit_xml(result: SuiteResult, timestamp: float | None = None) -> str:
    tests, failures = str(len(result.cases)), str(result.failed)
    seconds = f"{result.seconds:.3f}"
    root = ET.Element("testsuites", name="llm-audit check", tests=tests, failures=failures, errors="0", time=seconds)
    suite = ET.SubElement(
        root, "testsuite", name=result.suite, tests=tests, failures=failures, errors="0", skipped="0", time=seconds
    )
    if timestamp is not None:
        suite.set("timestamp", utc_iso(timestamp))
    for case in result.cases:
        element = ET.SubElement(
            suite, "testcase", classname=f"llm-audit.{result.suite}", name=case.name, time=f"{case.seconds:.3f}"
        )
        if not case.passed:
            failure = ET.SubElement(element, "failure", message=case.failures[0], type="AttributionCheckFailure")
            failure.text = "\n".join(case.failures)
        lines = [m.describe() for m in case.metrics] + case.notes + [f"output: {' '.join(case.output_text.split())}"]
        ET.SubElement(element, "system-out").text = "\n".join(lines)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(result: SuiteResult, path: str | Path, timestamp: float | None = None) -> Path:
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(junit_xml(result, timestamp), encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot write JUnit report {path}: {exc.strerror}") from None
    return path
