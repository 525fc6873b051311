"""CI suites: a TOML file naming cases to generate, explain and compare with a baseline.

A case is an example case (the format of :mod:`audit.examples`: template/variables/system,
messages or prompt, ``seed``, ``[generation]``) plus what to explain (``method``,
``granularity``, ``[params]``) and how strictly to compare (``[thresholds]``). A case may
point at an example file with ``file = "../credit_decision.toml"`` and override keys of it.
``[defaults]`` applies to every case (over an example file's values, under the case's
own), so a suite stays short: e.g. one ``max_new_tokens`` for every case.

What the baseline must match is the case *definition* (inputs, generation, method,
params); thresholds are not part of it, so tightening a threshold never forces a new
baseline.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..attribution.base import GRANULARITIES, METHODS, STOCHASTIC
from ..errors import UserError
from ..examples import load_case
from .fairness_gate import FairnessGate, parse_gate
from .files import read_user_file

_INPUT_KEYS = ("prompt", "template", "messages")
_CASE_KEYS = {
    "name",
    "file",
    "use_case",
    "description",
    "seed",
    "prompt",
    "template",
    "variables",
    "messages",
    "system",
    "chat",
    "generation",
    "method",
    "granularity",
    "params",
    "thresholds",
    "stability_seeds",
    "faithfulness",
    "random_orders",
    "decision",
    "target",
    "contrast",
    "fairness",
}


@dataclass
class Thresholds:
    """Pass limits; ``None`` (``false`` in TOML) switches a check off.

    Similarity is measured on the whole-output attribution vector (``seq_attr``).
    Faithfulness gains are in nats of the output's summed log-probability: how much
    more removing the top-attributed features hurts than removing random ones.
    """

    spearman: float | None = 0.9  # min
    kendall: float | None = 0.8  # min
    top_k: int = 3
    top_k_jaccard: float | None = 0.5  # min
    sign_agreement: float | None = 0.9  # min
    relative_l2: float | None = 0.3  # max
    stability: float | None = 0.8  # min mean pairwise Spearman across seeds (stochastic methods)
    comprehensiveness_gain: float | None = 0.0  # min: comprehensiveness - random comprehensiveness
    sufficiency_gain: float | None = 0.0  # min: random sufficiency - sufficiency

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str) -> Thresholds:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UserError(f"{where}: unknown threshold(s) {', '.join(unknown)}: use {', '.join(sorted(known))}")
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key == "top_k":
                if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                    raise UserError(f"{where}: top_k must be a positive integer (got {value!r})")
            elif value is False:
                value = None
            elif isinstance(value, bool) or not isinstance(value, (int, float)):
                raise UserError(f"{where}: threshold {key} must be a number, or false to switch it off (got {value!r})")
            values[key] = float(value) if isinstance(value, (int, float)) and key != "top_k" else value
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Case:
    name: str
    use_case: str
    seed: int
    inputs: dict[str, Any]  # prompt | template+variables(+system, chat) | messages
    generation: dict[str, Any]
    method: str
    granularity: str
    params: dict[str, Any] = field(default_factory=dict)
    thresholds: Thresholds = field(default_factory=Thresholds)
    stability_seeds: int = 1  # explanations per check; > 1 only for stochastic methods
    faithfulness: bool = True
    random_orders: int = 8
    decision: dict[str, Any] | None = None  # the decision specification the record is generated with
    target: str = "output"  # what is explained and compared: "output" (the text) or "decision"
    contrast: str | None = None  # decision target: the label contrasted with (None: the most probable other)
    fairness: FairnessGate | None = None  # [case.fairness]: absolute limits, not part of the baseline's definition

    @property
    def stochastic(self) -> bool:
        return self.method in STOCHASTIC

    def generate_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :meth:`audit.Auditor.generate`."""
        return {
            **self.inputs,
            **self.generation,
            "seed": self.seed,
            "use_case": self.use_case,
            "tags": {"check": self.name},
            **({"decision": self.decision} if self.decision is not None else {}),
        }

    def explain_params(self) -> dict[str, Any]:
        """The target keywords of :meth:`audit.Auditor.explain` (beside the method's parameters)."""
        return {"target": self.target, "contrast": self.contrast}

    def definition(self) -> dict[str, Any]:
        """What a baseline is valid for: change any of it and the baseline must be re-created."""
        return {
            "name": self.name,
            "use_case": self.use_case,
            "seed": self.seed,
            "inputs": self.inputs,
            "generation": self.generation,
            "method": self.method,
            "granularity": self.granularity,
            "params": self.params,
            "stability_seeds": self.stability_seeds,
            # Only where used, so the definitions (and hashes) of cases without a decision are unchanged.
            **({"decision": self.decision} if self.decision is not None else {}),
            **({"target": self.target, "contrast": self.contrast} if self.target != "output" else {}),
        }

    def definition_sha256(self) -> str:
        text = json.dumps(self.definition(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class Suite:
    name: str
    path: Path | None
    model: str | None
    cases: list[Case]

    def case(self, name: str) -> Case:
        for case in self.cases:
            if case.name == name:
                return case
        raise UserError(f"suite {self.name} has no case {name!r}: cases are {', '.join(c.name for c in self.cases)}")


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Tables merge key by key (so a case can override one threshold); other values replace."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and key != "variables":
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _from_file(reference: str, folder: Path, where: str) -> dict[str, Any]:
    path = (folder / reference).resolve()
    if not path.is_file():
        raise UserError(f"{where}: example file {reference} not found (looked at {path})")
    example = load_case(path)
    data: dict[str, Any] = {
        "name": example.name,
        "use_case": example.use_case,
        "seed": example.seed,
        "generation": example.generation,
    }
    if example.decision is not None:
        data["decision"] = example.decision
    data.update(example.inputs)
    return data


def build_case(raw: dict[str, Any], defaults: dict[str, Any], folder: Path, index: int) -> Case:
    where = f"case {index + 1}" + (f" ({raw['name']})" if "name" in raw else "")
    unknown = sorted(set(raw) - _CASE_KEYS)
    if unknown:
        raise UserError(f"{where}: unknown key(s) {', '.join(unknown)}: use {', '.join(sorted(_CASE_KEYS))}")
    data: dict[str, Any] = {}
    if "file" in raw:
        data = _from_file(str(raw["file"]), folder, where)
        if any(k in raw for k in _INPUT_KEYS):  # the case's own input replaces the file's
            for key in (*_INPUT_KEYS, "variables", "system"):
                data.pop(key, None)
    # precedence: the example file < the suite's [defaults] < the case's own keys
    data = _merge(_merge(data, defaults), {k: v for k, v in raw.items() if k != "file"})
    present = [k for k in _INPUT_KEYS if k in data]
    if len(present) != 1:
        raise UserError(f"{where}: needs exactly one of {', '.join(_INPUT_KEYS)} (or file = an example case)")
    inputs: dict[str, Any] = {present[0]: data[present[0]]}
    if "template" in data:
        inputs["variables"] = {str(k): str(v) for k, v in dict(data.get("variables", {})).items()}
    for key in ("system", "chat"):
        if key in data:
            inputs[key] = data[key]
    method = str(data.get("method", "feature-ablation"))
    if method not in METHODS:
        raise UserError(f"{where}: unknown method {method!r}: use one of {', '.join(METHODS)}")
    granularity = str(data.get("granularity", "field" if "template" in inputs else "token"))
    if granularity not in GRANULARITIES:
        raise UserError(f"{where}: unknown granularity {granularity!r}: use one of {', '.join(GRANULARITIES)}")
    if granularity == "field" and "template" not in inputs:
        raise UserError(f'{where}: field granularity needs a template with {{fields}}: use granularity = "token"')
    seed = data.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise UserError(f"{where}: seed must be a non-negative integer (got {seed!r})")
    stochastic = method in STOCHASTIC
    seeds = data.get("stability_seeds", 3 if stochastic else 1)
    if not isinstance(seeds, int) or isinstance(seeds, bool) or seeds < 1:
        raise UserError(f"{where}: stability_seeds must be a positive integer (got {seeds!r})")
    if seeds > 1 and not stochastic:
        seeds = 1  # a deterministic method gives the same attribution for every seed
    faithfulness = data.get("faithfulness", granularity != "segment")
    if not isinstance(faithfulness, bool):
        raise UserError(f"{where}: faithfulness must be true or false (got {faithfulness!r})")
    if faithfulness and granularity == "segment":
        raise UserError(
            f"{where}: faithfulness is measured for token and field granularity only: set faithfulness = false"
        )
    generation = dict(data.get("generation", {}))
    if not isinstance(data.get("params", {}), dict) or not isinstance(data.get("thresholds", {}), dict):
        raise UserError(f"{where}: params and thresholds must be tables ([case.params], [case.thresholds])")
    if "name" not in data:
        raise UserError(f"{where}: needs a name")
    decision = _decision(data, inputs, where)
    target = str(data.get("target", "output"))
    if target not in ("output", "decision"):
        raise UserError(f'{where}: unknown target {target!r}: use "output" (the text) or "decision"')
    if target == "decision" and decision is None:
        raise UserError(f'{where}: target = "decision" needs a [case.decision] table (or an example file with one)')
    contrast = data.get("contrast")
    if contrast is not None and (target != "decision" or contrast not in decision["labels"]):
        raise UserError(f'{where}: contrast must be one of the decision\'s labels, with target = "decision"')
    return Case(
        name=str(data["name"]),
        use_case=str(data.get("use_case", "general")),
        seed=seed,
        inputs=inputs,
        generation=generation,
        method=method,
        granularity=granularity,
        params=dict(data.get("params", {})),
        thresholds=Thresholds.from_dict(dict(data.get("thresholds", {})), where),
        stability_seeds=seeds,
        faithfulness=faithfulness,
        random_orders=int(data.get("random_orders", 8)),
        decision=decision,
        target=target,
        contrast=None if contrast is None else str(contrast),
        fairness=parse_gate(data.get("fairness"), inputs, decision, folder, where),
    )


def _decision(data: dict[str, Any], inputs: dict[str, Any], where: str) -> dict[str, Any] | None:
    """The case's decision specification, checked now (a mistake fails before any model loads)."""
    from ..decision.spec import check_spec
    from ..prompts import template_fields

    if data.get("decision") is None:
        return None
    fields = template_fields(inputs["template"]) if "template" in inputs else None
    try:
        spec = check_spec(data["decision"], fields)
    except UserError as exc:
        raise UserError(f"{where}: {exc}") from None
    return spec.to_dict()


def parse_suite(data: dict[str, Any], folder: Path, path: Path | None = None, name: str = "suite") -> Suite:
    unknown = sorted(set(data) - {"suite", "defaults", "case"})
    if unknown:
        raise UserError(
            f"suite {name}: unknown top-level key(s) {', '.join(unknown)}: use [suite], [defaults] and [[case]]"
        )
    header = data.get("suite", {})
    defaults = data.get("defaults", {})
    raw_cases = data.get("case", [])
    if not isinstance(raw_cases, list) or not raw_cases:
        raise UserError(f"suite {name} has no cases: add at least one [[case]] table")
    cases = [build_case(raw, defaults, folder, i) for i, raw in enumerate(raw_cases)]
    names = [c.name for c in cases]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise UserError(
            f"suite {name}: case name(s) {', '.join(duplicates)} used twice: names identify cases in the baseline"
        )
    model = header.get("model")
    if model is not None and not isinstance(model, str):
        raise UserError(f"suite {name}: model must be a string (a folder, hub id or smollm2-135m-instruct)")
    if model and not Path(model).is_absolute() and (folder / model).exists():
        model = str((folder / model).resolve())  # a folder relative to the suite file
    return Suite(name=str(header.get("name", name)), path=path, model=model, cases=cases)


def load_suite(path: str | Path) -> Suite:
    path = Path(path)
    text = read_user_file(path, "suite file", "pass --suite PATH to a suite TOML (see examples/ci/suite.toml)")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"suite file {path} is not valid TOML: {exc}") from None
    return parse_suite(data, path.resolve().parent, path, path.stem)
