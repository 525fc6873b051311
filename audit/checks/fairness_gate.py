"""The fairness gate of a CI suite case: fail when the decision leans on a protected attribute.

A case may declare::

    [case.fairness]
    max_flip_rate = 0.0     # share of applications whose decision changes under some swap
    max_parity_gap = 0.1    # largest gap in favourable rate between two groups of an attribute
    [case.fairness.swaps]
    applicant_name = "@../fairness/names.toml"
    age = ["25", "45", "70"]
    [[case.fairness.applications]]   # optional: more applications, the case's variables with these changed
    credit_score = "720"

The case's own record is the first application; each further one is the case's prompt with its
fields changed, scored (not generated) like every swap. Both limits are absolute, not compared
with the baseline: reliance on a prohibited basis is a failure whatever the baseline did. Each
attribute gives a ``flip_rate[FIELD]`` and a ``parity_gap[FIELD]`` metric, reported in the same
JSON and JUnit as the attribution checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..counterfactual.values import Swap, parse_swaps
from ..errors import UserError
from ..fairness.analyse import aggregate, score_applications
from ..fairness.result import FairnessResult
from ..model import LoadedModel
from ..record import GenerationRecord

_KEYS = {"swaps", "applications", "max_flip_rate", "max_parity_gap"}


@dataclass
class FairnessGate:
    swaps: list[Swap]
    applications: list[dict[str, str]] = field(default_factory=list)
    max_flip_rate: float | None = None
    max_parity_gap: float | None = None

    def definition(self) -> dict[str, Any]:
        return {
            "swaps": {s.field: s.groups for s in self.swaps},
            "applications": self.applications,
            "max_flip_rate": self.max_flip_rate,
            "max_parity_gap": self.max_parity_gap,
        }


def _limit(raw: dict[str, Any], key: str, where: str) -> float | None:
    value = raw.get(key)
    if value is None or value is False:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise UserError(f"{where}: fairness.{key} must be a share between 0 and 1 (got {value!r})")
    return float(value)


def parse_gate(raw: Any, inputs: dict[str, Any], decision: dict[str, Any] | None, folder: Path, where: str):
    """The case's ``[case.fairness]`` table, checked before any model loads (None: no gate)."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise UserError(f"{where}: fairness must be a table ([case.fairness])")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise UserError(f"{where}: unknown fairness key(s) {', '.join(unknown)}: use {', '.join(sorted(_KEYS))}")
    if decision is None or "template" not in inputs:
        raise UserError(f"{where}: a fairness gate needs a template and a [case.decision] (or an example with both)")
    swaps_raw = raw.get("swaps")
    if not isinstance(swaps_raw, dict) or not swaps_raw:
        raise UserError(f'{where}: fairness needs [case.fairness.swaps], e.g. age = ["25", "45", "70"]')
    try:
        swaps = parse_swaps([(str(k), v) for k, v in swaps_raw.items()], folder)
    except UserError as exc:
        raise UserError(f"{where}: {exc}") from None
    variables = inputs.get("variables", {})
    applications = [dict(a) for a in raw.get("applications", [])]
    for name in [s.field for s in swaps] + [k for a in applications for k in a]:
        if name not in variables:
            raise UserError(
                f"{where}: fairness names the field {name!r}, which the template does not have "
                f"(fields: {', '.join(variables)})"
            )
    gate = FairnessGate(
        swaps,
        [{str(k): str(v) for k, v in a.items()} for a in applications],
        _limit(raw, "max_flip_rate", where),
        _limit(raw, "max_parity_gap", where),
    )
    if gate.max_flip_rate is None and gate.max_parity_gap is None:
        raise UserError(f"{where}: fairness gates nothing: set max_flip_rate and/or max_parity_gap")
    return gate


def measure(loaded: LoadedModel, record: GenerationRecord, gate: FairnessGate) -> FairnessResult:
    """The case's record and applications, every swap substituted and scored on the case's model."""
    scored = score_applications(loaded, record, [{}, *gate.applications], gate.swaps)
    return aggregate(gate.swaps, scored, {}, use_case=record.use_case, filters={}, model={"name": loaded.identity.name})
