"""What a counterfactual run found for one record: every alternative tried, its decision, what flips it.

Stored as evidence (the ``counterfactuals`` table and its ``counterfactual`` event). The record's
own field values are not copied here: they are in the record (sealed there under a privacy
policy); an alternative holds only the values it substitutes, which the caller chose.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class Alternative:
    """One changed prompt: the substituted values and the decision the model then scores."""

    changes: dict[str, str]  # field -> substituted value (one field, or two with pairs)
    label_logprobs: dict[str, float]
    probabilities: dict[str, float]
    chosen: str
    flips: bool  # the chosen label differs from the recorded one


@dataclass
class CounterfactualResult:
    """Alternatives of one record's decision, scored on the recorded model (its hashes in ``model``)."""

    record_id: str
    labels: list[str]
    favourable: str
    recorded_chosen: str
    recorded_probabilities: dict[str, float]
    fields: dict[str, list[str]]  # field -> values tried, in the order given (the "smallest change" order)
    pairs: bool
    alternatives: list[Alternative]
    smallest_flip: dict[str, int | None]  # field -> index in ``alternatives`` of its first flipping value
    logprob_max_diff: float  # the recorded prompt re-scored against the recorded decision
    model: dict[str, str]  # name, weights_sha256: what scored it
    seconds: float = 0.0
    id: str | None = None
    created_at: str | None = None
    seq: int | None = None

    @property
    def flips(self) -> list[Alternative]:
        return [a for a in self.alternatives if a.flips]

    def sentence(self, index: int) -> str:
        """``DECLINE would have been APPROVE had the credit score been 680`` for one flipping alternative."""
        alternative = self.alternatives[index]
        had = " and ".join(f"the {name.replace('_', ' ')} been {value}" for name, value in alternative.changes.items())
        return f"{self.recorded_chosen} would have been {alternative.chosen} had {had}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("seq")
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CounterfactualResult:
        data = dict(data)
        data["alternatives"] = [Alternative(**a) for a in data["alternatives"]]
        data.pop("seq", None)
        return cls(**data)


__all__ = ["Alternative", "CounterfactualResult"]
