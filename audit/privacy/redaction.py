"""Replace personal data by placeholders, consistently across every text of one record.

One :class:`Redactor` per record: the same value gets the same placeholder wherever it
appears (prompt, variables, messages, output), so a redacted record still reads coherently
("[NAME_1] asks for a loan; [NAME_1]'s IBAN is [IBAN_1]"). Values of template fields the
policy marks as personal are replaced first (verbatim, wherever they occur), then the
detectors run on what is left.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .detectors import detect
from .policy import Policy


@dataclass(frozen=True)
class Finding:
    """What fired where; never the value itself (that is what is being kept out)."""

    detector: str  # a detector name, or "field" for a template field marked pii
    kind: str  # the placeholder's type: iban, card, name, ...
    placeholder: str
    location: str  # prompt, variables.income, messages[1], output_text, ...
    action: str

    def to_dict(self) -> dict[str, str]:
        return {
            "detector": self.detector,
            "kind": self.kind,
            "placeholder": self.placeholder,
            "location": self.location,
            "action": self.action,
        }


@dataclass
class Redactor:
    policy: Policy
    keyed_hash: Callable[[str, str], str]  # (kind, value) -> short HMAC for the "hash" action
    placeholders: dict[tuple[str, str], str] = field(default_factory=dict)  # (kind, value) -> placeholder
    findings: list[Finding] = field(default_factory=list)
    _counts: dict[str, int] = field(default_factory=dict)
    _known: list[tuple[str, str, str]] = field(default_factory=list)  # (value, kind, detector) replaced verbatim

    def placeholder(self, kind: str, value: str) -> str:
        key = (kind, value)
        if key not in self.placeholders:
            if self.policy.action(kind) == "hash":
                self.placeholders[key] = f"[{kind.upper()}#{self.keyed_hash(kind, value)}]"
            else:
                self._counts[kind] = self._counts.get(kind, 0) + 1
                self.placeholders[key] = f"[{kind.upper()}_{self._counts[kind]}]"
        return self.placeholders[key]

    def mark_fields(self, variables: dict[str, Any] | None) -> None:
        """Register the values of pii fields so they are replaced verbatim in every text."""
        for name, kind in self.policy.fields.items():
            value = (variables or {}).get(name)
            if value is not None and str(value).strip():
                self._known.append((str(value), kind, "field"))
        self._known.sort(key=lambda k: -len(k[0]))  # longest first: "Jane Doe" before "Jane"

    def text(self, text: str | None, location: str) -> str | None:
        if not text:
            return text
        for value, kind, detector in self._known:
            if value in text:
                placeholder = self.placeholder(kind, value)
                text = text.replace(value, placeholder)
                self._note(detector, kind, placeholder, location)
        for (kind, value), placeholder in sorted(self.placeholders.items(), key=lambda kv: -len(kv[0][1])):
            if value in text:  # found by a detector elsewhere in this record (e.g. a bare date in a variable)
                text = text.replace(value, placeholder)
                self._note("repeat", kind, placeholder, location)
        out, at = [], 0
        for span in detect(text, self.policy.detectors):
            if "[" in span.text:  # never re-redact inside a placeholder
                continue
            placeholder = self.placeholder(span.detector, span.text)
            out += [text[at : span.start], placeholder]
            at = span.end
            self._note(span.detector, span.detector, placeholder, location)
        return "".join(out) + text[at:]

    def value(self, value: Any, location: str) -> Any:
        """A variable's value: strings redacted; numbers too when their digits are personal data."""
        if isinstance(value, str):
            return self.text(value, location)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            redacted = self.text(str(value), location)
            return value if redacted == str(value) else redacted
        return value

    def _note(self, detector: str, kind: str, placeholder: str, location: str) -> None:
        finding = Finding(detector, kind, placeholder, location, self.policy.action(kind))
        if finding not in self.findings:
            self.findings.append(finding)

    def kinds(self) -> dict[str, int]:
        """How many distinct values of each type were replaced."""
        counts: dict[str, int] = {}
        for kind, _ in self.placeholders:
            counts[kind] = counts.get(kind, 0) + 1
        return counts
