"""Label mass: how much of the model's probability the labels hold at the scored position.

A decision's ``probabilities`` are renormalised over the labels alone, so ``DECLINE 0.63`` can sit on
labels that together hold 8e-5 of the model's probability: the model would have written something
else, and the renormalised figure describes a choice it did not make. The label mass says so. It is
derived from the recorded ``label_logprobs`` (hashed with the record: one source of truth), so every
record, including those written before the mass was shown, has it. The labels are scored as whole
token sequences that differ in their first token (:mod:`audit.decision.labels` refuses prefixes), so
their probabilities are of disjoint continuations and their sum is a probability (at most 1).

Importing this module does not import torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import UserError

# Below this share of the model's probability on the labels, the decision is not one the model made.
DEFAULT_MIN_LABEL_MASS = 0.5


def check_min_label_mass(value: Any) -> float | None:
    """``value`` as a share in [0, 1], refused (UserError) otherwise; None stays None (the default applies)."""
    if value is None:
        return None
    if isinstance(value, bool):
        value = "true" if value else "false"
    try:
        share = float(value)
    except (TypeError, ValueError):
        share = math.nan
    if not 0.0 <= share <= 1.0:  # also refuses NaN
        raise UserError(
            f"min_label_mass must be a share of probability between 0 and 1 (got {value!r}): "
            f"e.g. min_label_mass = {DEFAULT_MIN_LABEL_MASS} (CLI: --min-label-mass {DEFAULT_MIN_LABEL_MASS})"
        )
    return share


@dataclass(frozen=True)
class LabelMass:
    """The labels' share of the model's probability at the start of the answer."""

    total: float  # sum over the labels of exp(log-probability): 0..1
    raw: dict[str, float]  # label -> exp(log-probability), over the model's whole vocabulary
    minimum: float  # the record's threshold (the default for a record that states none)
    stated_minimum: bool  # whether the record states its threshold (else the default was applied)

    @property
    def below(self) -> bool:
        """The labels hold less than the minimum: the renormalised decision is not one the model made."""
        return self.total < self.minimum

    @property
    def text(self) -> str:
        return share_text(self.total)


def share_text(share: float) -> str:
    """A probability as a reader can take it in: ``0.83``, ``0.012``, ``8.1e-05``."""
    if share >= 0.1:
        return f"{share:.2f}"
    if share >= 0.001:
        return f"{share:.3f}"
    return f"{share:.1e}"


def label_mass_of(label_logprobs: Mapping[str, float], min_label_mass: float | None = None) -> LabelMass:
    """The label mass of recorded label log-probabilities (``DecisionRecord.label_logprobs``)."""
    raw = {label: math.exp(float(lp)) for label, lp in label_logprobs.items()}
    minimum = DEFAULT_MIN_LABEL_MASS if min_label_mass is None else float(min_label_mass)
    return LabelMass(min(1.0, sum(raw.values())), raw, minimum, min_label_mass is not None)


def label_mass(decision) -> LabelMass:
    """The label mass of a :class:`~audit.record.DecisionRecord`."""
    return label_mass_of(decision.label_logprobs, getattr(decision, "min_label_mass", None))


def mass_problem(chosen: str, total: float, minimum: float) -> str | None:
    """The review queue's and summary's words for a decision below its minimum label mass (None: not below)."""
    if total >= minimum:
        return None
    return (
        f"label mass {share_text(total)}: the model put only {share_text(total)} of its probability on the labels "
        f"(minimum {minimum:g}), so {chosen} is not a decision the model made"
    )


def mass_headline(mass: LabelMass, labels: list[str]) -> str:
    """The sentence a dossier or workspace headline leads with when the mass is below the minimum."""
    return (
        f"Not a decision the model made: the model put only {mass.text} of its probability on the labels "
        f"{', '.join(labels)} at the start of the answer (the minimum is {mass.minimum:g}"
        f"{'' if mass.stated_minimum else ', the default'}); the probabilities below are renormalised over the "
        "labels alone and describe a choice the model would rarely have written."
    )
