"""A fired alert as stored evidence (the ``alerts`` table and its ``alert`` event).

An alert is a monitoring rule that fired on one window: which rule (its whole definition, so
the evidence says what was tested), the window, the value or test it fired on, and the records
behind it (the most recent ones, by id: they enter the review queue with the alert as their
reason, and a sign-off after the alert acknowledges it for that record).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

MAX_NAMED_RECORDS = 200  # records an alert names (the most recent of its group in the window)


@dataclass
class AlertResult:
    rule: dict[str, Any]  # the rule as written in the rules file (name, use_case, metric, ...)
    severity: str
    window: dict[str, str]  # {"since": ..., "until": ...}
    reference: dict[str, str] | None  # the window or baseline file compared with (None: a threshold rule)
    text: str  # the finding in words, as printed
    value: float | None  # the metric in the window (a rate, a mean), or the test statistic for a PSI rule
    test: dict[str, Any] | None  # {"name": "psi"|"proportion", "statistic", "p_value", "n_current", "n_reference"}
    records: int  # records of the rule's group in the window
    record_ids: list[str] = field(default_factory=list)  # at most MAX_NAMED_RECORDS, newest first
    id: str | None = None
    created_at: str | None = None
    seq: int | None = None
    record_id: str | None = None  # alerts are about a window, not one record (the documents table's column)

    @property
    def name(self) -> str:
        return str(self.rule.get("name", ""))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("seq")
        data.pop("record_id")
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AlertResult:
        data = dict(data)
        data.pop("seq", None)
        data.pop("record_id", None)
        return cls(**data)
