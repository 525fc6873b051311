"""The verdict of replaying a recorded generation (see the replay component)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

VERDICTS = ("identical", "logprob-drift", "diverged")


@dataclass
class Divergence:
    step: int
    recorded_token_id: int
    recorded_token: str
    replayed_token_id: int
    replayed_token: str
    recorded_margin: float | None  # recorded top-1 minus top-2 log-probability at that step


@dataclass
class ReplayResult:
    record_id: str
    verdict: str  # one of VERDICTS
    model_match: dict[str, Any]  # field -> {"recorded": ..., "current": ..., "match": bool}
    environment_diff: dict[str, Any]  # field -> {"recorded": ..., "current": ...}, differing only
    first_divergence: Divergence | None
    max_logprob_diff: float | None
    replayed_output_ids: list[int]
    seconds: float
    allow_model_mismatch: bool = False
    id: str | None = None
    created_at: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "record_id": self.record_id,
            "verdict": self.verdict,
            "model_match": self.model_match,
            "environment_diff": self.environment_diff,
            "first_divergence": asdict(self.first_divergence) if self.first_divergence else None,
            "max_logprob_diff": self.max_logprob_diff,
        }
