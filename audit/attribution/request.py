"""An explanation request, checked once: method, granularity, parameters and target, then against the record.

Everything a user can get wrong is refused here, without a model, so a refusal costs nothing
and stores nothing. The checked request carries the parameters the method will run with
(defaults filled in), which is also what identifies an explanation for resumable batches
(:attr:`ExplainRequest.key`): two requests that run the same computation have the same key.

The target is ``output`` (the recorded text's log-probability, what every explanation before
decisions attributed), ``decision`` (log p(chosen) - log p(contrast) of a record's decision) or
``auto`` (decision for a record that has one, else output). A target depends on the record (its
decision, the most probable other label), so a request is resolved per record
(:meth:`ExplainRequest.for_record`) before it has a key; the key of an output explanation is what it
always was, so explanations stored before decisions are still found by batches.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import UserError
from ..record import GenerationRecord
from ..traffic.proxied import require_local_tokens
from .base import GRANULARITIES, AttributionMethod, get_method

# Entries explain_record adds to the stored parameters that describe rather than decide the
# computation: upgrading Captum must not make every record pending again.
# A decision target's identity (kind, label, contrast) is added to the key from the stored target.
DESCRIPTIVE_PARAMS = ("target", "baseline_field", "captum")
TARGETS = ("decision", "output")


def params_key(method: str, granularity: str, params: dict[str, Any]) -> str:
    """SHA-256 of the canonical (method, granularity, effective parameters, decision target), descriptive
    entries left out; an output target adds nothing, so its keys are those of explanations stored before."""
    from ..integrity.canonical import canonical_bytes

    effective = {k: v for k, v in params.items() if k not in DESCRIPTIVE_PARAMS}
    document: dict[str, Any] = {"method": method, "granularity": granularity, "params": effective}
    target = params.get("target")
    if isinstance(target, dict) and target.get("kind") == "decision":
        document["target"] = {"kind": "decision", "label": target.get("label"), "contrast": target.get("contrast")}
    return hashlib.sha256(canonical_bytes(document)).hexdigest()


@dataclass(frozen=True)
class ExplainRequest:
    """A validated request; build it with :func:`check_request`. Small and picklable (it travels to workers)."""

    method: str
    granularity: str
    params: dict[str, Any] = field(
        default_factory=dict
    )  # resolved: defaults filled, a deterministic method's seed dropped
    target: str = "auto"  # "auto" | "decision" | "output"; resolved per record by for_record
    contrast: str | None = None  # decision target: the label contrasted with (None: the most probable other)
    label: str | None = None  # decision target, once resolved: the record's chosen label

    @property
    def method_class(self) -> type[AttributionMethod]:
        return get_method(self.method)

    @property
    def resolved(self) -> bool:
        return self.target == "output" or (self.target == "decision" and self.label is not None)

    @property
    def key(self) -> str:
        """The explanation's identity; only a request resolved for a record has one."""
        if not self.resolved:
            raise ValueError("resolve the request for a record first (ExplainRequest.for_record)")
        params = dict(self.params)
        if self.target == "decision":
            params["target"] = {"kind": "decision", "label": self.label, "contrast": self.contrast}
        return params_key(self.method, self.granularity, params)

    def for_record(self, record: GenerationRecord) -> ExplainRequest:
        """This request with its target resolved for ``record``; refuses a target the record cannot have."""
        decision = record.decision
        target = self.target
        if target == "auto":
            target = "decision" if decision is not None else "output"
            if decision is None and self.contrast is not None:
                raise UserError(
                    f"record {record.id} has no decision, so --contrast does not apply: explain its text without it"
                )
        if target == "output":
            return replace(self, target="output", contrast=None, label=None)
        if decision is None:
            raise UserError(
                f"record {record.id} has no decision to explain: explain its text with --target output, or record "
                "with --decision-labels and --favourable"
            )
        # The default contrast: the most probable label other than the chosen one.
        contrast = self.contrast if self.contrast is not None else decision.runner_up
        if contrast not in decision.labels:
            raise UserError(
                f"--contrast {contrast!r} is not a label of record {record.id}: its labels are {', '.join(decision.labels)}"
            )
        if contrast == decision.chosen:
            raise UserError(
                f"--contrast {contrast!r} is the record's own decision: contrast it with another of "
                f"{', '.join(label for label in decision.labels if label != decision.chosen)}"
            )
        return replace(self, target="decision", contrast=contrast, label=decision.chosen)

    def check_record(self, record: GenerationRecord) -> None:
        """Refuse a record this request cannot explain (no output, no fields, no segments, no decision)."""
        resolved = self.for_record(record)
        if resolved.target == "output" and not record.output_ids:
            raise UserError(f"record {record.id} has no output tokens: there is nothing to explain")
        require_local_tokens(record, "an explanation")
        if self.granularity == "field" and (record.prompt_kind != "template" or not record.template):
            raise UserError(
                f"record {record.id} has no template, so no fields: use --granularity token (or segment for chat prompts)"
            )
        chat = record.prompt_kind == "messages" or (record.prompt_kind == "template" and not record.add_special_tokens)
        if self.granularity == "segment" and not chat:
            raise UserError(f"record {record.id} is a plain-text prompt without chat segments: use --granularity token")


def check_request(
    method: str, granularity: str, params: dict[str, Any], record: GenerationRecord | None = None
) -> ExplainRequest:
    """The request, validated (and checked against ``record`` when given); ``None`` parameters mean default.

    ``params`` may hold ``target`` (``decision``, ``output``; ``None``: decision where the record has one)
    and ``contrast`` (a label of the record's decision) beside the method's own parameters.
    """
    params = dict(params)
    target = params.pop("target", None) or "auto"
    contrast = params.pop("contrast", None)
    if target not in (*TARGETS, "auto"):
        raise UserError(f"unknown target {target!r}: use decision (the record's decision) or output (its text)")
    if contrast is not None and target == "output":
        raise UserError("--contrast applies to --target decision: drop it to explain the text")
    cls = get_method(method)
    if granularity not in GRANULARITIES:
        raise UserError(f"unknown granularity {granularity!r}: use one of {', '.join(GRANULARITIES)}")
    resolved = cls.resolve(params)
    if not cls.stochastic:
        resolved.pop("perturbation_seed", None)
    request = ExplainRequest(cls.name, granularity, resolved, target, None if contrast is None else str(contrast))
    if record is not None:
        request.check_record(record)
    return request
