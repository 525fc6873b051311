"""What the verifier found: each check's outcome, as text, JSON and JUnit."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Result:
    pack: str
    problems: list[tuple[str, str]] = field(default_factory=list)
    proven: list[str] = field(default_factory=list)
    not_proven: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    opened: list[dict[str, Any]] = field(default_factory=list)  # clear content of sealed fields, once authenticated

    @property
    def ok(self) -> bool:
        return not self.problems

    def fail(self, check: str, what: str) -> None:
        self.problems.append((check, what))

    def summary(self) -> str:
        if self.problems:
            more = f" (+{len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
            return f"TAMPERED or INCOMPLETE: {self.problems[0][1]}{more}"
        return "PROVEN: " + self.proven[0]

    def text(self) -> str:
        lines = [self.summary()]
        lines += [f"  also: {what}" for _, what in self.problems[1:10]]
        if self.ok:
            lines += [f"  - {p}" for p in self.proven[1:]] + ["NOT PROVEN by this pack:"]
            lines += [f"  - {p}" for p in self.not_proven]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        problems = [{"check": c, "problem": w} for c, w in self.problems]
        return {
            "pack": self.pack,
            "ok": self.ok,
            "problems": problems,
            "proven": self.proven,
            "not_proven": self.not_proven,
        }

    def junit(self) -> str:
        root = ET.Element("testsuites", name="llm-audit verify-pack")
        suite = ET.SubElement(root, "testsuite", name="verify-pack", tests=str(len(self.checks)))
        suite.set("failures", str(len({c for c, _ in self.problems})))
        for check in self.checks:
            case = ET.SubElement(suite, "testcase", name=check, classname="llm-audit.verify-pack")
            found = [w for c, w in self.problems if c == check]
            if found:
                ET.SubElement(case, "failure", message=found[0], type="tampered").text = "\n".join(found)
        return ET.tostring(root, encoding="unicode")
