"""The verdict of replaying a recorded generation (see the replay component)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..tolerances import REPLAY_TOLERANCE

VERDICTS = ("identical", "logprob-drift", "diverged", "decision-changed")


@dataclass
class Divergence:
    step: int
    recorded_token_id: int
    recorded_token: str
    replayed_token_id: int
    replayed_token: str
    recorded_margin: float | None  # recorded top-1 minus top-2 log-probability at that step
    replayed_margin: float | None = None  # the same margin in the replay at that step
    # the recorded log-probability of the token the replay chose, if it was in the recorded top-k
    recorded_logprob_of_replayed: float | None = None


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
    tolerance: float = REPLAY_TOLERANCE
    model_matches: bool = True  # False only when replayed with --allow-model-mismatch on another model
    replayed_token_logprobs: list[float] = field(default_factory=list)
    seq: int | None = None  # position in the store, assigned on insert

    @property
    def headline(self) -> str:
        """The verdict as a person should read it: a mismatched model is never hidden."""
        if self.model_matches:
            return self.verdict
        changed = [k for k, v in self.model_match.items() if v.get("decides", True) and not v["match"]]
        return f"{self.verdict} (DIFFERENT MODEL: {', '.join(changed)})"

    @property
    def decision(self) -> dict[str, Any] | None:
        """Recorded vs replayed decision (chosen labels, probabilities), for records with a decision."""
        value = (self.extra or {}).get("decision")
        return value if isinstance(value, dict) else None

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "record_id": self.record_id,
            "verdict": self.verdict,
            "model_match": self.model_match,
            "environment_diff": self.environment_diff,
            "first_divergence": asdict(self.first_divergence) if self.first_divergence else None,
            "max_logprob_diff": self.max_logprob_diff,
            "model_matches": self.model_matches,
            "allow_model_mismatch": self.allow_model_mismatch,
            "tolerance": self.tolerance,
            "replay_id": self.id,
            "created_at": self.created_at,
            "seconds": self.seconds,
            "decision": self.decision,
        }
