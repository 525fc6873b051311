"""The generation record: everything needed to show a regulator what the model saw and said.

Plain dataclasses with ``to_dict``/``from_dict`` so the same record serialises to the
store, to ``--json`` and to reports without a translation layer in between. Field names
follow the regulatory checklist (see README, "What is recorded").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .environment import Environment
from .token_pack import is_packed, unpack

# 2: records gain ``decision`` (None for a record without one). A version-1 record is read as it was
# written, with ``decision = None``; its logged payload has no ``decision`` key, and neither has the
# payload of a later record without a decision, so both verify unchanged.
# 3: ``token_logprobs`` and ``top_logprobs`` are stored packed (:mod:`audit.token_pack`), about a tenth of
# their JSON; versions 1 and 2 keep their JSON lists. In memory every version holds the lists.
# 4: the environment, a proxy's ``tags.proxy.known`` and the packed token arrays are stored once, as blobs
# the row and the payload name by SHA-256 (:mod:`audit.store.record_refs`); about a third of version 3's bytes.
SCHEMA_VERSION = 4
PACKED_FROM = 3


@dataclass
class ModelIdentity:
    """What a model *is*, by content: hashes first, names second (names can lie)."""

    name: str
    source: str
    architecture: str
    model_type: str
    parameter_count: int
    revision: str | None
    weights_sha256: dict[str, str]
    config_sha256: str
    tokenizer_sha256: dict[str, str]
    chat_template_sha256: str | None
    context_length: int | None

    @property
    def weights_text(self) -> str:
        """Every weights file as ``name=sha256``, sorted and comma-joined: the one text form the store indexes
        and results that name their model quote."""
        return ",".join(f"{k}={v}" for k, v in sorted(self.weights_sha256.items()))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelIdentity:
        return cls(**data)


@dataclass
class TopAlternative:
    token_id: int
    token: str
    logprob: float


OPTIONAL_DECISION_KEYS = ("min_label_mass", "frame", "label_tokens")


@dataclass
class DecisionRecord:
    """What was decided, scored at generation time (see :mod:`audit.decision`).

    Each label's log-probability is that of its whole token sequence (``label_token_ids``) at the start
    of the answer; ``probabilities`` are those normalised over the labels; ``chosen`` is the most probable
    label and ``margin`` its log-odds over the runner-up (log p(chosen) - log p(runner-up)). ``stated``
    is the label the generated text states first (None: it states none) and ``agrees`` whether that is
    ``chosen``. ``reasons``: template field -> the adverse-action reason a notice gives for it.
    """

    labels: list[str]
    favourable: str
    mode: str  # "free" | "constrained"
    label_token_ids: dict[str, list[int]]
    label_logprobs: dict[str, float]
    probabilities: dict[str, float]
    chosen: str
    runner_up: str
    margin: float
    stated: str | None
    agrees: bool
    reasons: dict[str, str] = field(default_factory=dict)
    protected: list[str] = field(default_factory=list)  # fields holding a protected attribute (prohibited basis)
    # Later keys, left out of the payload when None so records written before them verify unchanged
    # (:data:`OPTIONAL_DECISION_KEYS`); the label mass itself is derived from ``label_logprobs``.
    min_label_mass: float | None = None  # below it the decision is not one the model made (None: the default)
    frame: str | None = None  # the regulatory frame of the wording (None: from the use case)
    label_tokens: dict[str, list[str]] | None = None  # label -> each scored token id's text, for readers

    @property
    def adverse(self) -> bool:
        """Whether the decision is an outcome other than the favourable one."""
        return self.chosen != self.favourable

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in OPTIONAL_DECISION_KEYS:
            if data.get(key) is None:
                data.pop(key, None)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DecisionRecord:
        return cls(**data)


@dataclass
class GenerationRecord:
    """One generation, as recorded. Immutable once stored (the store is append-only)."""

    id: str
    started_at: str
    finished_at: str
    duration_s: float
    use_case: str
    operator: str
    prompt_kind: str  # "text" | "template" | "messages"
    prompt: str  # the exact text that was tokenised (rendered template / chat template)
    template: str | None
    variables: dict[str, Any] | None
    messages: list[dict[str, str]] | None
    system: str | None
    add_special_tokens: bool
    input_ids: list[int]
    output_ids: list[int]
    output_text: str
    finish_reason: str  # "eos" | "length" | "stop" (a stop string); a proxied record: the upstream's
    token_logprobs: list[float]
    top_logprobs: list[list[TopAlternative]]
    generation_config: dict[str, Any]
    seed: int
    model: ModelIdentity
    environment: Environment
    seq: int | None = None  # position in the store, assigned on insert
    schema_version: int = SCHEMA_VERSION
    tags: dict[str, Any] = field(default_factory=dict)
    decision: DecisionRecord | None = None  # schema 2; None: no decision was specified

    @property
    def input_tokens(self) -> int:
        return len(self.input_ids)

    @property
    def output_tokens(self) -> int:
        return len(self.output_ids)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.decision is not None:
            data["decision"] = self.decision.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GenerationRecord:
        data = dict(data)
        data["model"] = ModelIdentity.from_dict(data["model"])
        data["environment"] = Environment.from_dict(data["environment"])
        if is_packed(data["token_logprobs"]):  # version 3: the one decoder of the packed form
            data["token_logprobs"] = unpack(data["token_logprobs"])
        if is_packed(data["top_logprobs"]):
            data["top_logprobs"] = [[TopAlternative(*alt) for alt in step] for step in unpack(data["top_logprobs"])]
        else:  # JSON objects (versions 1-2, a spooled record), or read back already (version 4's blob)
            data["top_logprobs"] = [
                [alt if isinstance(alt, TopAlternative) else TopAlternative(**alt) for alt in step]
                for step in data["top_logprobs"]
            ]
        decision = data.get("decision")
        data["decision"] = DecisionRecord.from_dict(decision) if isinstance(decision, dict) else None
        return cls(**data)
