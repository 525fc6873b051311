"""The decision specification: the labels, the favourable one, the mode and the adverse-action reasons.

Checked without a model (:func:`check_spec`), so every mistake a user can make in it is refused before
anything loads or is stored. Where labels collide after tokenisation (identical token sequences, or one
a prefix of another) is only known with the tokenizer: :func:`audit.decision.labels.check_label_tokens`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import UserError
from .mass import check_min_label_mass

MODES = ("free", "constrained")
FRAMES = ("consumer-credit", "commercial-credit", "insurance", "eu-ai-act", "none")
KEYS = ("labels", "favourable", "mode", "reasons", "protected", "min_label_mass", "frame")
EXAMPLE = "e.g. decision={'labels': ['APPROVE', 'DECLINE'], 'favourable': 'APPROVE'} (CLI: --decision-labels APPROVE,DECLINE --favourable APPROVE)"


@dataclass(frozen=True)
class DecisionSpec:
    """What counts as the decision of a generation.

    ``labels``: the possible outcomes, in the order reports list them; ``favourable``: the one that is
    favourable to the applicant (any other outcome is adverse); ``mode``: ``free`` (the text is
    generated as it would be without a decision; a text that states another label, or none, is
    recorded and flagged) or ``constrained`` (the answer starts with the chosen label's tokens and
    generation continues from there, so the text states the decision by construction);
    ``reasons``: template field -> the adverse-action reason a notice gives for it (Regulation B's
    sample wording, e.g. ``"Excessive obligations in relation to income"``).
    """

    labels: tuple[str, ...]
    favourable: str
    mode: str = "free"
    reasons: dict[str, str] = field(default_factory=dict)
    protected: tuple[str, ...] = ()  # template fields holding a protected attribute (a prohibited basis)
    min_label_mass: float | None = None  # None: audit.decision.mass.DEFAULT_MIN_LABEL_MASS
    frame: str | None = None  # the regulatory frame of the wording; None: from the use case

    def to_dict(self) -> dict[str, Any]:
        return {
            "labels": list(self.labels),
            "favourable": self.favourable,
            "mode": self.mode,
            "reasons": dict(self.reasons),
            **({"protected": list(self.protected)} if self.protected else {}),
            **({"min_label_mass": self.min_label_mass} if self.min_label_mass is not None else {}),
            **({"frame": self.frame} if self.frame is not None else {}),
        }


def _labels(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",")]
    if not isinstance(value, Sequence) or isinstance(value, (bytes, bytearray)):
        raise UserError(f"decision labels must be a list of strings (got {value!r}): {EXAMPLE}")
    labels = []
    for label in value:
        if not isinstance(label, str) or not label.strip():
            raise UserError(f"decision label {label!r} is empty or not text: {EXAMPLE}")
        if label != label.strip():
            raise UserError(
                f"decision label {label!r} has leading or trailing spaces: write it without them "
                "(the tokenizer's word-boundary rule decides the space before the answer)"
            )
        labels.append(label)
    if len(labels) < 2:
        raise UserError(f"a decision needs at least two labels (got {labels}): {EXAMPLE}")
    seen: dict[str, str] = {}
    for label in labels:
        key = label.casefold()
        if key in seen:
            same = "is given twice" if seen[key] == label else f"and {seen[key]!r} differ only in case"
            raise UserError(f"decision label {label!r} {same}: give each outcome once, e.g. APPROVE,DECLINE")
        seen[key] = label
    return labels


def _reasons(value: Any, fields: list[str] | None) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UserError(
            'decision reasons must map template fields to adverse-action reasons, e.g. {"monthly_debt": '
            '"Excessive obligations in relation to income"}'
        )
    if fields is None:
        raise UserError("decision reasons map template fields, and this prompt has no template: drop the reasons")
    reasons: dict[str, str] = {}
    for name, reason in value.items():
        if name not in fields:
            raise UserError(
                f"decision reason for {name!r}: the template has no field {name!r} (its fields: {', '.join(fields)})"
            )
        if not isinstance(reason, str) or not reason.strip():
            raise UserError(f"decision reason for {name!r} is empty: give the reason a notice would state")
        reasons[str(name)] = reason.strip()
    return reasons


def check_spec(value: Any, fields: list[str] | None = None) -> DecisionSpec | None:
    """The checked specification of ``value`` (a dict, a :class:`DecisionSpec` or ``None``).

    ``fields``: the template's field names (``None`` when the prompt has no template), which the
    reasons must name.
    """
    if value is None:
        return None
    if isinstance(value, DecisionSpec):
        value = value.to_dict()
    if not isinstance(value, dict):
        raise UserError(f"decision must be a table of labels and the favourable label: {EXAMPLE}")
    unknown = sorted(set(value) - set(KEYS))
    if unknown:
        raise UserError(f"unknown decision key(s) {', '.join(unknown)}: use {', '.join(KEYS)}")
    if "labels" not in value:
        raise UserError(f"a decision needs its labels: {EXAMPLE}")
    labels = _labels(value["labels"])
    favourable = value.get("favourable")
    if favourable is None:
        raise UserError(
            f"name the label favourable to the applicant (one of {', '.join(labels)}) with --favourable: "
            "it decides which outcomes are adverse"
        )
    if favourable not in labels:
        raise UserError(f"favourable label {favourable!r} is not among the labels {', '.join(labels)}: use one of them")
    mode = value.get("mode") or "free"
    if mode not in MODES:
        raise UserError(f"unknown decision mode {mode!r}: use free or constrained")
    reasons = _reasons(value.get("reasons"), fields)
    protected = _protected(value.get("protected"), fields, reasons)
    frame = value.get("frame")
    if frame is not None and frame not in FRAMES:
        raise UserError(f"unknown decision frame {frame!r}: use one of {', '.join(FRAMES)}")
    minimum = check_min_label_mass(value.get("min_label_mass"))
    return DecisionSpec(tuple(labels), str(favourable), str(mode), reasons, protected, minimum, frame)


def _protected(value: Any, fields: list[str] | None, reasons: dict[str, str]) -> tuple[str, ...]:
    """Fields that hold a protected attribute (Regulation B, 12 CFR 1002.2(z): race, colour, religion,
    national origin, sex, marital status, age, receipt of public assistance): never a reason on a notice."""
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise UserError('decision protected must be a list of template fields, e.g. ["applicant_name", "age"]')
    if fields is None:
        raise UserError("decision protected names template fields, and this prompt has no template: drop it")
    for name in value:
        if name not in fields:
            raise UserError(f"decision protected field {name!r}: the template has no such field ({', '.join(fields)})")
        if name in reasons:
            raise UserError(
                f"decision reason for {name!r}: it is a protected attribute, a prohibited basis that can never be a "
                "reason on an adverse-action notice; drop its reason"
            )
    return tuple(str(name) for name in value)
