"""JUnit XML for ``verify --junit``: one test case per check, so CI shows which one failed."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from ..errors import UserError
from .verify import CHECKS, VerifyResult


def write_junit(result: VerifyResult, path: Path) -> None:
    failures = [p for p in result.problems]
    suite = ET.Element(
        "testsuite",
        name="llm-audit verify",
        tests=str(len(CHECKS)),
        failures=str(len({p.check for p in failures})),
        errors="0",
        time=f"{result.seconds:.3f}",
    )
    for check in CHECKS:
        case = ET.SubElement(suite, "testcase", classname="llm-audit.verify", name=check, time="0")
        found = [p for p in failures if p.check == check]
        if found:
            failure = ET.SubElement(case, "failure", message=str(found[0]), type="tampered")
            failure.text = "\n".join(str(p) for p in found)
    ET.SubElement(suite, "system-out").text = result.summary()
    try:
        ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror}") from None
