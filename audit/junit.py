"""JUnit XML, the report format CI systems (GitHub Actions annotations, GitLab, Jenkins) display.

One writer for every command that gates CI (``llm-audit verify --junit``, ``llm-audit check
--junit``): one ``<testsuites>`` holding one ``<testsuite>``, a ``<testcase>`` per check or
case, a ``<failure>`` whose ``message`` is the headline and whose text lists every problem,
and what passed cases measured in ``<system-out>``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from .clock import utc_iso
from .errors import UserError


@dataclass
class JUnitCase:
    name: str
    classname: str
    seconds: float = 0.0
    failure: str | None = None  # the headline; None when the case passed
    details: str = ""  # every problem, one per line
    output: str = ""  # <system-out>: what the case measured
    failure_type: str = "failure"


def junit_xml(
    title: str, suite: str, cases: list[JUnitCase], *, seconds: float, timestamp: float | None = None, output: str = ""
) -> str:
    """The document: ``title`` names the ``<testsuites>``, ``suite`` its one ``<testsuite>``."""
    tests, failures = str(len(cases)), str(sum(c.failure is not None for c in cases))
    total = f"{seconds:.3f}"
    root = ET.Element("testsuites", name=title, tests=tests, failures=failures, errors="0", time=total)
    element = ET.SubElement(
        root, "testsuite", name=suite, tests=tests, failures=failures, errors="0", skipped="0", time=total
    )
    if timestamp is not None:
        element.set("timestamp", utc_iso(timestamp))
    for case in cases:
        node = ET.SubElement(element, "testcase", classname=case.classname, name=case.name, time=f"{case.seconds:.3f}")
        if case.failure is not None:
            failure = ET.SubElement(node, "failure", message=case.failure, type=case.failure_type)
            failure.text = case.details or case.failure
        if case.output:
            ET.SubElement(node, "system-out").text = case.output
    if output:
        ET.SubElement(element, "system-out").text = output
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(path: str | Path, document: str) -> Path:
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(document, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot write JUnit report {path}: {exc.strerror}") from None
    return path
