"""An explanation request, checked once: method, granularity and parameters, then against the record.

Everything a user can get wrong is refused here, without a model, so a refusal costs nothing
and stores nothing. The checked request carries the parameters the method will run with
(defaults filled in), which is also what identifies an explanation for resumable batches
(:attr:`ExplainRequest.key`): two requests that run the same computation have the same key.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from ..errors import UserError
from ..proxied import require_local_tokens
from ..record import GenerationRecord
from .base import GRANULARITIES, AttributionMethod, get_method

# Entries explain_record adds to the stored parameters that describe rather than decide the
# computation: upgrading Captum must not make every record pending again.
DESCRIPTIVE_PARAMS = ("target", "baseline_field", "captum")


def params_key(method: str, granularity: str, params: dict[str, Any]) -> str:
    """SHA-256 of the canonical (method, granularity, effective parameters), descriptive entries left out."""
    from ..integrity.canonical import canonical_bytes

    effective = {k: v for k, v in params.items() if k not in DESCRIPTIVE_PARAMS}
    document = {"method": method, "granularity": granularity, "params": effective}
    return hashlib.sha256(canonical_bytes(document)).hexdigest()


@dataclass(frozen=True)
class ExplainRequest:
    """A validated request; build it with :func:`check_request`. Small and picklable (it travels to workers)."""

    method: str
    granularity: str
    params: dict[str, Any] = field(
        default_factory=dict
    )  # resolved: defaults filled, a deterministic method's seed dropped

    @property
    def method_class(self) -> type[AttributionMethod]:
        return get_method(self.method)

    @property
    def key(self) -> str:
        return params_key(self.method, self.granularity, self.params)

    def check_record(self, record: GenerationRecord) -> None:
        """Refuse a record this request cannot explain (no output, no fields, no segments)."""
        if not record.output_ids:
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
    """The request, validated (and checked against ``record`` when given); ``None`` parameters mean default."""
    cls = get_method(method)
    if granularity not in GRANULARITIES:
        raise UserError(f"unknown granularity {granularity!r}: use one of {', '.join(GRANULARITIES)}")
    resolved = cls.resolve(params)
    if not cls.stochastic:
        resolved.pop("perturbation_seed", None)
    request = ExplainRequest(cls.name, granularity, resolved)
    if record is not None:
        request.check_record(record)
    return request
