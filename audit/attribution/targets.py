"""What an explanation attributes: the recorded output's log-probability, or a decision's contrastive score.

Every method is written against a target's two engines: ``scorer`` (perturbation methods: prompts in,
one row of scores per prompt) and ``gradients`` (gradient methods: prompt embeddings in, gradients
out), and ``rows`` (how many scores one prompt gets: one per output token, or the one decision score).

* :class:`OutputTarget`: the log-probability of each recorded output token under teacher forcing
  (rows = output tokens; their sum is the whole output).
* :class:`DecisionTarget`: log p(label) - log p(contrast), the two labels' whole token sequences at
  the start of the answer (one row). Only the label positions are scored, so it costs a fraction of
  explaining a long output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class OutputTarget:
    output_ids: tuple[int, ...]
    kind: ClassVar[str] = "output"
    description: ClassVar[str] = "log-probability of the recorded output ids (teacher forcing)"

    @property
    def rows(self) -> int:
        return len(self.output_ids)

    def scorer(self, model, prompt_ids: list[int], pad_id: int):
        from .scorer import PrefixCachedScorer

        return PrefixCachedScorer(model, prompt_ids, list(self.output_ids), pad_id=pad_id)

    def gradients(self, model, prompt_ids: list[int], pad_id: int):
        from .embedding_gradients import EmbeddingGradients

        return EmbeddingGradients(model, prompt_ids, list(self.output_ids))

    def row_labels(self, tokenizer) -> list[str]:
        return [tokenizer.decode([t]) for t in self.output_ids]

    def stored(self, score: float | None = None) -> str:
        """What ``params["target"]`` holds: the description (as every explanation before decisions did)."""
        return self.description


@dataclass(frozen=True)
class DecisionTarget:
    label: str  # the recorded decision (log p(label) counts positively)
    contrast: str  # the alternative it is contrasted with
    label_ids: tuple[int, ...]
    contrast_ids: tuple[int, ...]
    kind: ClassVar[str] = "decision"
    rows: ClassVar[int] = 1
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def description(self) -> str:
        return (
            f"log p({self.label}) - log p({self.contrast}): each label's whole token sequence at the start of the "
            "answer (teacher forcing)"
        )

    def scorer(self, model, prompt_ids: list[int], pad_id: int):
        from .contrast import ContrastScorer

        shared = self.extra.get("label_scorer")  # the explainer's scorer of every label, when it built one
        if shared is not None and list(shared.reference) == list(prompt_ids):
            return ContrastScorer(
                model,
                prompt_ids,
                self.label_ids,
                self.contrast_ids,
                pad_id,
                shared=shared,
                columns=self.extra["columns"],
            )
        return ContrastScorer(model, prompt_ids, self.label_ids, self.contrast_ids, pad_id)

    def gradients(self, model, prompt_ids: list[int], pad_id: int):
        from .contrast import ContrastGradients

        return ContrastGradients(model, prompt_ids, self.label_ids, self.contrast_ids, pad_id)

    def row_labels(self, tokenizer) -> list[str]:
        return [f"{self.label} − {self.contrast}"]

    def stored(self, score: float | None = None) -> dict[str, Any]:
        """What ``params["target"]`` holds: kind, label, contrast, their token ids and the unperturbed score."""
        return {
            "kind": self.kind,
            "label": self.label,
            "contrast": self.contrast,
            "label_token_ids": list(self.label_ids),
            "contrast_token_ids": list(self.contrast_ids),
            "score": score,
            "description": self.description,
        }
