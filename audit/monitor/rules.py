"""Alert rules: a TOML file of ``[[alert]]`` tables, checked whole before anything is computed or stored.

Each rule names a use case and a metric (``decision_rate`` with ``label``, ``label_mass``, ``margin``,
``override_rate``, ``replay_divergence``, ``flip_rate`` with ``field``), optionally a ``segment``
(a condition on a template field, see :mod:`.segments`), and either a threshold on the window's
figure (``above`` and/or ``below``: a rate, or the mean margin or label mass) or a test against
the reference (``test = "psi"`` with ``max`` and an optional ``alpha``, default 0.01, for the PSI's own
p-value; on the distribution of labels, margins or label mass;
``test = "proportion"`` with ``alpha``, on a rate), and a ``severity``. ``min_records`` (default 1)
is the smallest group a rule is evaluated on.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UserError
from .compare import RATE_METRICS
from .segments import Segment, parse_condition

METRICS = ("decision_rate", "label_mass", "margin", "override_rate", "replay_divergence", "flip_rate")
PSI_METRICS = ("decision_rate", "label_mass", "margin")
SEVERITIES = ("low", "medium", "high", "critical")
_KEYS = {
    "name", "use_case", "metric", "label", "field", "segment", "above", "below", "test", "max", "alpha",
    "severity", "min_records",
}  # fmt: skip


@dataclass
class Rule:
    name: str
    use_case: str
    metric: str
    severity: str
    raw: dict[str, Any]  # as written: stored with each firing, so the evidence says what was tested
    label: str | None = None
    field: str | None = None
    segment: Segment | None = None
    above: float | None = None
    below: float | None = None
    test: str | None = None  # "psi" | "proportion"
    max: float | None = None
    alpha: float | None = None
    min_records: int = 1

    @property
    def key(self) -> str | None:
        return self.label if self.metric == "decision_rate" else self.field


def _number(table: dict[str, Any], key: str, where: str, low: float = -math.inf, high: float = math.inf) -> float:
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        span = "" if low == -math.inf else f" between {low:g} and {high:g}"
        raise UserError(f"{where}: {key} = {value!r} is not a number{span}")
    return float(value)


def _text(table: dict[str, Any], key: str, where: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value.strip():
        raise UserError(f"{where}: {key} is missing or not a string")
    return value


def parse_rule(table: Any, where: str) -> Rule:
    if not isinstance(table, dict):
        raise UserError(f"{where} is not a table: write [[alert]] followed by key = value lines")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise UserError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(_KEYS))})")
    name = _text(table, "name", where)
    where = f"{where} ({name!r})"
    metric = _text(table, "metric", where)
    if metric not in METRICS:
        raise UserError(f"{where}: unknown metric {metric!r}: use one of {', '.join(METRICS)}")
    severity = _text(table, "severity", where)
    if severity not in SEVERITIES:
        raise UserError(f"{where}: severity {severity!r} is not one of {', '.join(SEVERITIES)}")
    rule = Rule(name, _text(table, "use_case", where), metric, severity, dict(table))
    for key, needed in (("label", "decision_rate"), ("field", "flip_rate")):
        if key in table and metric != needed:
            raise UserError(f"{where}: {key} applies to metric {needed} only")
        if metric == needed:
            setattr(rule, key, _text(table, key, where))
    if "segment" in table:
        if metric == "flip_rate":
            raise UserError(f"{where}: a flip rate is per use case (a fairness run), it has no segment")
        rule.segment = parse_condition(_text(table, "segment", where), f"{where}: segment")
    if "min_records" in table:
        rule.min_records = int(_number(table, "min_records", where, 1, 10**9))
    thresholds = [k for k in ("above", "below") if k in table]
    if thresholds and "test" in table:
        raise UserError(f"{where}: give a threshold (above/below) or a test, not both")
    for key in thresholds:
        setattr(rule, key, _number(table, key, where))
    if "test" in table:
        rule.test = _text(table, "test", where)
        if rule.test == "psi":
            if metric not in PSI_METRICS:
                raise UserError(f"{where}: test = 'psi' compares distributions: {', '.join(PSI_METRICS)}")
            if "max" not in table:
                raise UserError(f"{where}: test = 'psi' takes max (the largest PSI allowed, e.g. 0.25)")
            rule.max = _number(table, "max", where, 0, 100)
            rule.alpha = _number(table, "alpha", where, 1e-12, 0.5) if "alpha" in table else 0.01
        elif rule.test == "proportion":
            if metric not in RATE_METRICS:
                raise UserError(f"{where}: test = 'proportion' compares rates: {', '.join(RATE_METRICS)}")
            if "alpha" not in table or "max" in table:
                raise UserError(f"{where}: test = 'proportion' takes alpha (e.g. 0.01), not max")
            rule.alpha = _number(table, "alpha", where, 1e-12, 0.5)
        else:
            raise UserError(f"{where}: unknown test {rule.test!r}: use 'psi' (with max) or 'proportion' (with alpha)")
    elif not thresholds:
        raise UserError(f"{where}: give a threshold (above = X or below = X) or a test ('psi' or 'proportion')")
    elif "max" in table or "alpha" in table:
        raise UserError(f"{where}: max and alpha belong to a test; a threshold rule takes above/below")
    return rule


def load_rules(path: Path) -> list[Rule]:
    """Every rule of the file, or one line naming the first problem (nothing is computed before)."""
    try:
        data = tomllib.loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise UserError(f"cannot read rules file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UserError(f"rules file {path} is not UTF-8 text: save it as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"rules file {path} is not valid TOML: {exc}") from None
    extra = sorted(set(data) - {"alert"})
    if extra:
        raise UserError(f"rules file {path}: unknown table or key {extra[0]!r}: rules are [[alert]] tables")
    tables = data.get("alert")
    if not isinstance(tables, list) or not tables:
        raise UserError(f"rules file {path} has no [[alert]] table: write at least one rule")
    rules = [parse_rule(t, f"rules file {path}, alert {i + 1}") for i, t in enumerate(tables)]
    seen: set[str] = set()
    for rule in rules:
        if rule.name in seen:
            raise UserError(f"rules file {path}: two rules are named {rule.name!r}: names must be unique")
        seen.add(rule.name)
    return rules
