"""The recorded decision, from the label log-probabilities and the generated text (no model needed)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..record import DecisionRecord
from .labels import stated_label
from .mass import DEFAULT_MIN_LABEL_MASS, label_mass

# A decision whose log-odds over the runner-up are below this is flagged: about 62 % against 38 % for two
# labels, close enough that a small change to the input or to the model could flip it.
SMALL_MARGIN = 0.5


def normalised(logprobs: Sequence[float]) -> list[float]:
    """Probabilities over the labels alone (a softmax of their log-probabilities), in float64."""
    top = max(logprobs)
    weights = [math.exp(lp - top) for lp in logprobs]
    total = sum(weights)
    return [w / total for w in weights]


def ranked(labels: Sequence[str], logprobs: Sequence[float]) -> list[int]:
    """Label indices from most to least probable; ties go to the label listed first."""
    return sorted(range(len(labels)), key=lambda i: (-logprobs[i], i))


def build_decision(
    labels: Sequence[str],
    favourable: str,
    mode: str,
    label_ids: Sequence[Sequence[int]],
    logprobs: Sequence[float],
    output_text: str,
    reasons: dict[str, str] | None = None,
    protected: Sequence[str] = (),
    min_label_mass: float | None = None,
    frame: str | None = None,
    label_tokens: Sequence[Sequence[str]] | None = None,
) -> DecisionRecord:
    """The :class:`~audit.record.DecisionRecord` of one generation."""
    lps = [float(x) for x in logprobs]
    probs = normalised(lps)
    order = ranked(labels, lps)
    chosen, runner_up = labels[order[0]], labels[order[1]]
    stated = stated_label(output_text, labels)
    return DecisionRecord(
        labels=list(labels),
        favourable=favourable,
        mode=mode,
        label_token_ids={label: [int(t) for t in ids] for label, ids in zip(labels, label_ids)},
        label_logprobs=dict(zip(labels, lps)),
        probabilities=dict(zip(labels, probs)),
        chosen=chosen,
        runner_up=runner_up,
        margin=lps[order[0]] - lps[order[1]],
        stated=stated,
        agrees=stated == chosen,
        reasons=dict(reasons or {}),
        protected=list(protected),
        min_label_mass=DEFAULT_MIN_LABEL_MASS if min_label_mass is None else float(min_label_mass),
        frame=frame,
        label_tokens=None if label_tokens is None else {lb: list(t) for lb, t in zip(labels, label_tokens)},
    )


def describe_decision(d: DecisionRecord) -> str:
    """One line: ``DECLINE (p 0.55 over the labels vs APPROVE 0.45; label mass 0.83; margin 0.20 log-odds over
    APPROVE; adverse; free: the text states no label)``."""
    others = ", ".join(f"{label} {d.probabilities[label]:.2f}" for label in d.labels if label != d.chosen)
    if d.mode == "constrained":
        text = "constrained: the answer starts with it"
    elif d.stated is None:
        text = "free: the text states no label (DISAGREES)"
    else:
        text = f"free: the text states {d.stated}" + ("" if d.agrees else " (DISAGREES)")
    outcome = "adverse" if d.adverse else "favourable"
    mass = label_mass(d)
    held = f"label mass {mass.text}" + (
        f", BELOW the minimum {mass.minimum:g}: not a decision the model made" if mass.below else ""
    )
    return (
        f"{d.chosen} (p {d.probabilities[d.chosen]:.2f} over the labels vs {others}; {held}; "
        f"margin {d.margin:.2f} log-odds over {d.runner_up}; {outcome}; {text})"
    )
