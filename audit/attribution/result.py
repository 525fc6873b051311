"""The output of one explanation: what the store keeps and what reports and ``--json`` show."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

JSON_KEYS = (
    "record_id",
    "method",
    "granularity",
    "features",
    "output_tokens",
    "token_attr",
    "seq_attr",
    "params",
    "seconds",
    "target",
)


@dataclass(frozen=True)
class ExplainedTarget:
    """What an explanation attributes, read back from its stored parameters."""

    kind: str  # "output" | "decision"
    label: str | None = None  # decision: the chosen label (its log-probability counts positively)
    contrast: str | None = None  # decision: the label it is contrasted with
    score: float | None = None  # decision: the unperturbed log p(label) - log p(contrast)
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "label": self.label,
            "contrast": self.contrast,
            "score": self.score,
            "description": self.description,
        }


@dataclass
class AttributionResult:
    """Which input features drove each output token of a record.

    ``token_attr[i, j]``: attribution of input feature ``j`` to output token ``i`` (the
    log-probability of the recorded output id at step ``i``). ``seq_attr[j]``: to the
    whole output (the sum of the recorded output's log-probabilities). For a decision target
    (:attr:`target`) there is one row, the contrastive score, and ``seq_attr`` equals it.
    """

    record_id: str
    method: str
    granularity: str  # "token" | "field" | "segment"
    features: list[str]
    output_tokens: list[str]
    token_attr: np.ndarray  # (n_output, n_features) float32
    seq_attr: np.ndarray  # (n_features,) float32
    params: dict[str, Any]  # every method parameter, the seed and the baseline
    seconds: float
    convergence_delta: list[float] | None = None  # integrated gradients only
    logprob_max_diff: float | None = None  # unperturbed vs recorded log-probs
    id: str | None = None
    created_at: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def target(self) -> ExplainedTarget:
        """The attributed score: the recorded output (every explanation stored before decisions) or a decision."""
        stored = (self.params or {}).get("target")
        if isinstance(stored, dict) and stored.get("kind") == "decision":
            return ExplainedTarget(
                "decision",
                stored.get("label"),
                stored.get("contrast"),
                stored.get("score"),
                stored.get("description", ""),
            )
        return ExplainedTarget("output", description=str(stored or ""))

    @property
    def completeness(self) -> dict[str, float] | None:
        """Sum of the attributions against the score change with every feature at its baseline (see
        :func:`audit.attribution.base.completeness`); None for explanations stored before it was measured."""
        value = (self.extra or {}).get("completeness")
        return value if isinstance(value, dict) else None

    @property
    def deletion(self) -> dict[str, Any] | None:
        """A decision explanation's deletion check (:func:`audit.attribution.deletion.deletion_check`): its
        stated reasons removed together; None for other targets and for explanations stored before it."""
        value = (self.extra or {}).get("deletion")
        return value if isinstance(value, dict) else None

    def to_json_dict(self) -> dict[str, Any]:
        """Exactly the keys ``llm-audit explain --json`` prints."""
        return {
            "record_id": self.record_id,
            "method": self.method,
            "granularity": self.granularity,
            "features": list(self.features),
            "output_tokens": list(self.output_tokens),
            "token_attr": np.asarray(self.token_attr, dtype=float).tolist(),
            "seq_attr": np.asarray(self.seq_attr, dtype=float).tolist(),
            "params": dict(self.params),
            "seconds": self.seconds,
            "target": self.target.to_dict(),
        }
