"""What a protected-attribute run found: per attribute, flip rate, group outcomes, the largest gap, the flips.

Stored as evidence (the ``fairness_reports`` table and its ``fairness`` event). Records are named
by id only; the substituted values are the caller's swap lists, never a record's own values.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Substitution:
    """One record with one value of the attribute substituted, and the decision the model then scores."""

    group: str
    value: str
    chosen: str
    favourable_probability: float


@dataclass
class RecordSwaps:
    """One record's re-scored decisions under every value of every attribute its template has."""

    record_id: str
    favourable: str
    recorded_chosen: str
    substitutions: dict[str, list[Substitution]]  # attribute -> one per (group, value)
    logprob_max_diff: float  # the recorded prompt re-scored against the recorded decision
    prompts: int = 0

    def flipped(self, attribute: str) -> list[Substitution]:
        return [s for s in self.substitutions.get(attribute, []) if s.chosen != self.recorded_chosen]


@dataclass
class GroupOutcome:
    """How the records fared with this group's values substituted."""

    name: str
    values: list[str]
    records: int
    favourable_rate: float  # mean over records of the share of the group's values scored favourable
    mean_favourable_probability: float


@dataclass
class Flip:
    record_id: str
    recorded: str  # the recorded decision
    substitutions: list[Substitution]  # every substitution that changes it


@dataclass
class AttributeReport:
    """Reliance on one attribute across the records whose template has it."""

    field: str
    source: str  # the swap argument or file
    note: str  # what the swap list says about itself
    records: int
    flipped: int
    flip_rate: float
    flip_interval: list[float]  # Wilson 95 %
    groups: list[GroupOutcome]
    gap: float  # largest difference in favourable rate between two groups
    gap_groups: list[str]  # [higher, lower]
    test: dict[str, Any]  # exact sign test of the gap's two groups, paired by record
    flips: list[Flip] = field(default_factory=list)

    @property
    def interval_width(self) -> float:
        return self.flip_interval[1] - self.flip_interval[0]


@dataclass
class FairnessResult:
    use_case: str | None
    filters: dict[str, str]
    swaps: dict[str, dict[str, list[str]]]  # attribute -> group -> values
    records: int  # records scored for at least one attribute
    attributes: list[AttributeReport]
    skipped: dict[str, str]  # record id -> why it was not scored
    warnings: list[str]
    logprob_max_diff: float
    model: dict[str, str]
    seconds: float = 0.0
    id: str | None = None
    created_at: str | None = None
    seq: int | None = None

    def attribute(self, name: str) -> AttributeReport | None:
        return next((a for a in self.attributes if a.field == name), None)

    def flips_of(self, record_id: str) -> list[tuple[AttributeReport, Flip]]:
        return [(a, f) for a in self.attributes for f in a.flips if f.record_id == record_id]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("seq")
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FairnessResult:
        data = dict(data)
        data.pop("seq", None)
        attributes = []
        for a in data["attributes"]:
            a = dict(a)
            a["groups"] = [GroupOutcome(**g) for g in a["groups"]]
            a["flips"] = [
                Flip(f["record_id"], f["recorded"], [Substitution(**s) for s in f["substitutions"]]) for f in a["flips"]
            ]
            attributes.append(AttributeReport(**a))
        data["attributes"] = attributes
        return cls(**data)
