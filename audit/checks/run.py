"""What one check run of a case produced: the record, its explanation(s) and their measures."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..attribution import AttributionResult
from ..fairness.result import FairnessResult
from ..record import GenerationRecord
from .faithfulness import Faithfulness
from .stability import Stability
from .suite import Case


@dataclass
class CaseRun:
    case: Case
    record: GenerationRecord
    attribution: AttributionResult  # the explanation with the case's own seed: what is compared
    runs: list[AttributionResult] = field(default_factory=list)  # one per stability seed, first = attribution
    stability: Stability | None = None
    faithfulness: Faithfulness | None = None
    fairness: FairnessResult | None = None  # the case's [case.fairness] gate, measured
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)  # seconds per step: where a slow check spends its time
