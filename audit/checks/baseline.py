"""The baseline file: what a case produced when it was signed off, stable and diffable in git.

Sorted keys, rounded numbers, one list of numbers per line, no timestamps: re-creating a
baseline on the same machine gives the same bytes, and a reviewer's diff shows exactly
which output token or attribution moved. Model and environment identity are kept so a
failing check can say what changed around the model, not only that something did.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UserError
from .files import read_user_file
from .run import CaseRun
from .suite import Suite

FORMAT = "llm-audit-baseline"
VERSION = 1
ATTR_DIGITS = 6
LOGPROB_DIGITS = 4


def _round(value: Any, digits: int) -> Any:
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_round(v, digits) for v in (value.tolist() if isinstance(value, np.ndarray) else value)]
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isnan(value) or math.isinf(value):
            return None
        rounded = round(value, digits)
        return 0.0 if rounded == 0 else rounded
    return value


def _plain(value: Any) -> Any:
    """JSON-safe copy of method parameters (tuples, NumPy scalars, tensors' lists)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def ids_sha256(ids: list[int]) -> str:
    return hashlib.sha256(json.dumps([int(i) for i in ids]).encode()).hexdigest()


def decision_entry(run: CaseRun) -> dict[str, Any] | None:
    """The recorded decision and (for a decision target) its principal reasons in order: what a change must not flip."""
    from ..decision.reasons import toward_decision

    decision = run.record.decision
    if decision is None:
        return None
    entry: dict[str, Any] = {
        "chosen": decision.chosen,
        "probabilities": {k: _round(v, LOGPROB_DIGITS) for k, v in decision.probabilities.items()},
        "margin": _round(decision.margin, LOGPROB_DIGITS),
        "stated": decision.stated,
    }
    if run.attribution.target.kind == "decision":
        features = list(run.attribution.features)
        entry["contrast"] = run.attribution.target.contrast
        entry["reasons"] = [features[j] for j in toward_decision(run.attribution.seq_attr)]
    return entry


def case_entry(run: CaseRun) -> dict[str, Any]:
    record, attribution = run.record, run.attribution
    decision = decision_entry(run)
    return {
        "definition": run.case.definition(),
        "definition_sha256": run.case.definition_sha256(),
        "prompt_sha256": ids_sha256(record.input_ids),
        "input_tokens": len(record.input_ids),
        "output_ids": [int(i) for i in record.output_ids],
        "output_text": record.output_text,
        "output_tokens": list(attribution.output_tokens),
        "token_logprobs": _round(record.token_logprobs, LOGPROB_DIGITS),
        "attribution": {
            "method": attribution.method,
            "granularity": attribution.granularity,
            "params": _plain(attribution.params),
            "features": list(attribution.features),
            "seq_attr": _round(np.asarray(attribution.seq_attr, dtype=float), ATTR_DIGITS),
            "token_attr": _round(np.asarray(attribution.token_attr, dtype=float), ATTR_DIGITS),
        },
        "stability": _round(run.stability.to_dict(), 4) if run.stability else None,
        "faithfulness": {k: _round(v, 4) for k, v in run.faithfulness.to_dict().items()} if run.faithfulness else None,
        **({"decision": decision} if decision is not None else {}),
    }


def _model_identity(run: CaseRun) -> dict[str, Any]:
    return run.record.model.to_dict()


def _environment(run: CaseRun) -> dict[str, Any]:
    env = run.record.environment.to_dict()
    return {k: env[k] for k in ("python", "packages", "platform", "machine", "cpu", "device", "dtype", "threads")}


def build_baseline(suite: Suite, runs: list[CaseRun]) -> dict[str, Any]:
    models = {json.dumps(_model_identity(r), sort_keys=True) for r in runs}
    return {
        "format": FORMAT,
        "version": VERSION,
        "suite": suite.name,
        "model": _model_identity(runs[0]) if len(models) == 1 else None,
        "models": {r.case.name: r.record.model.name for r in runs} if len(models) > 1 else None,
        "environment": _environment(runs[0]),
        "cases": {run.case.name: case_entry(run) for run in runs},
    }


def _scalar_list(value: Any) -> bool:
    return isinstance(value, list) and all(not isinstance(v, (list, dict)) for v in value)


def dumps(value: Any, indent: int = 0) -> str:
    """JSON with sorted keys where each list of scalars stays on one line (a row per line in diffs)."""
    pad, inner = "  " * indent, "  " * (indent + 1)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [
            f"{inner}{json.dumps(str(k), ensure_ascii=False)}: {dumps(value[k], indent + 1)}" for k in sorted(value)
        ]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list):
        if _scalar_list(value):
            return json.dumps(value, ensure_ascii=False)
        return "[\n" + ",\n".join(f"{inner}{dumps(v, indent + 1)}" for v in value) + f"\n{pad}]"
    return json.dumps(value, ensure_ascii=False)


def write_baseline(data: dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    text = dumps(data) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise UserError(f"cannot write baseline {path}: {exc.strerror}") from None
    return path


@dataclass
class Baseline:
    data: dict[str, Any]
    path: Path | None = None

    @property
    def cases(self) -> dict[str, dict[str, Any]]:
        return self.data["cases"]

    def entry(self, name: str) -> dict[str, Any]:
        if name not in self.cases:
            where = f" {self.path}" if self.path else ""
            raise UserError(f"baseline{where} has no case {name!r}: re-create it with llm-audit baseline create")
        return self.cases[name]


def parse_baseline(data: Any, where: str = "baseline") -> Baseline:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise UserError(
            f"{where} is not an llm-audit baseline: create one with llm-audit baseline create --suite S -o {where}"
        )
    if data.get("version") != VERSION:
        raise UserError(
            f"{where} has baseline format version {data.get('version')}, this llm-audit reads {VERSION}: re-create it"
        )
    if not isinstance(data.get("cases"), dict):
        raise UserError(f"{where} has no cases: re-create it with llm-audit baseline create")
    return Baseline(data)


def load_baseline(path: str | Path) -> Baseline:
    path = Path(path)
    text = read_user_file(path, "baseline", f"create it with llm-audit baseline create --suite SUITE -o {path}")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise UserError(f"baseline {path} is not valid JSON ({exc}): restore it from git or re-create it") from None
    baseline = parse_baseline(data, str(path))
    baseline.path = path
    return baseline
