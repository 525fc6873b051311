"""Example cases: TOML files that describe one generation each (see ``examples/``).

A case file holds ``name``, ``use_case``, ``seed``, either ``template`` + ``[variables]``
(optionally ``system``) or ``messages`` or ``prompt``, a ``[generation]`` table of parameters,
and optionally a ``[decision]`` table (``labels``, ``favourable``, ``mode``, and ``[decision.reasons]``
mapping template fields to adverse-action reasons: :mod:`audit.decision.spec`). The same format
feeds the demo and the cases of CI suites (:mod:`audit.checks.suite`).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UserError

_INPUT_KEYS = ("prompt", "template", "messages")


@dataclass
class ExampleCase:
    name: str
    path: Path
    use_case: str
    description: str
    seed: int
    inputs: dict[str, Any]
    generation: dict[str, Any] = field(default_factory=dict)
    decision: dict[str, Any] | None = None

    def generate_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :meth:`audit.Auditor.generate`."""
        return {
            **self.inputs,
            **self.generation,
            **({"decision": self.decision} if self.decision is not None else {}),
            "seed": self.seed,
            "use_case": self.use_case,
            "tags": {"example": self.name},
        }


def load_case(path: Path) -> ExampleCase:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UserError(f"cannot read example {path}: {exc}") from None
    present = [k for k in _INPUT_KEYS if k in data]
    if len(present) != 1:
        raise UserError(f"example {path} needs exactly one of {', '.join(_INPUT_KEYS)}")
    inputs: dict[str, Any] = {present[0]: data[present[0]]}
    if "template" in data:
        inputs["variables"] = dict(data.get("variables", {}))
    if "system" in data:
        inputs["system"] = data["system"]
    return ExampleCase(
        name=str(data.get("name", path.stem)),
        path=path,
        use_case=str(data.get("use_case", "general")),
        description=str(data.get("description", "")),
        seed=int(data.get("seed", 0)),
        inputs=inputs,
        generation=dict(data.get("generation", {})),
        decision=dict(data["decision"]) if isinstance(data.get("decision"), dict) else data.get("decision"),
    )


def load_examples(folder: Path) -> list[ExampleCase]:
    if not folder.is_dir():
        raise UserError(f"no examples folder at {folder}: run from the repository root or pass --examples FOLDER")
    files = sorted(folder.glob("*.toml"))
    if not files:
        raise UserError(f"no *.toml example cases in {folder}: add one (see examples/credit_decision.toml)")
    return [load_case(p) for p in files]
