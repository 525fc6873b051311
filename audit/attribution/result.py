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
)


@dataclass
class AttributionResult:
    """Which input features drove each output token of a record.

    ``token_attr[i, j]``: attribution of input feature ``j`` to output token ``i`` (the
    log-probability of the recorded output id at step ``i``). ``seq_attr[j]``: to the
    whole output (the sum of the recorded output's log-probabilities).
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
        }
