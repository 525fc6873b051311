"""Compare one case run with its baseline entry: pass/fail per metric, with reasons a person can act on.

Order matters for the message: a changed definition explains a changed prompt, which
explains a changed output, which explains changed attributions; the first failure is the
headline, every failing metric is still listed with its value and threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from . import metrics
from .baseline import ATTR_DIGITS, Baseline, ids_sha256
from .run import CaseRun

if TYPE_CHECKING:
    from ..fairness.result import FairnessResult
    from .fairness_gate import FairnessGate


@dataclass
class Metric:
    name: str
    value: float | None
    threshold: float | None = None
    kind: str = "min"  # "min": value >= threshold passes; "max": value <= threshold passes
    detail: str = ""

    @property
    def gated(self) -> bool:
        return self.threshold is not None

    @property
    def passed(self) -> bool:
        if self.threshold is None:
            return True
        if self.value is None or math.isnan(self.value):
            return False
        return self.value >= self.threshold if self.kind == "min" else self.value <= self.threshold

    def describe(self) -> str:
        value = "undefined" if self.value is None or math.isnan(self.value) else f"{self.value:.4f}"
        op = ">=" if self.kind == "min" else "<="
        limit = f" (threshold {op} {self.threshold:g})" if self.threshold is not None else ""
        extra = f"; {self.detail}" if self.detail else ""
        return f"{self.name} = {value}{limit}{extra}"

    def to_dict(self) -> dict[str, Any]:
        value = None if self.value is None or math.isnan(self.value) else self.value
        return {
            "name": self.name,
            "value": value,
            "threshold": self.threshold,
            "kind": self.kind,
            "passed": self.passed,
            "detail": self.detail,
        }


@dataclass
class CaseResult:
    name: str
    failures: list[str] = field(default_factory=list)
    metrics: list[Metric] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    output_text: str = ""
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.failures

    def metric(self, name: str) -> Metric | None:
        return next((m for m in self.metrics if m.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "failures": list(self.failures),
            "metrics": [m.to_dict() for m in self.metrics],
            "notes": list(self.notes),
            "output_text": self.output_text,
            "seconds": round(self.seconds, 3),
            "timings": dict(self.timings),
        }


def changed_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted paths where two JSON-like values differ."""
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(set(old) | set(new))
        return [p for k in keys for p in changed_keys(old.get(k), new.get(k), f"{prefix}{k}.")]
    return [] if old == new else [prefix.rstrip(".") or "(root)"]


def first_divergence(old: list[int], new: list[int]) -> int | None:
    for step, (a, b) in enumerate(zip(old, new)):
        if a != b:
            return step
    return None if len(old) == len(new) else min(len(old), len(new))


def _token(tokens: list[str], ids: list[int], step: int) -> str:
    if step >= len(ids):
        return "(end)"
    text = tokens[step] if step < len(tokens) else ""
    return f"{text!r} (id {ids[step]})"


def output_message(entry: dict[str, Any], run: CaseRun) -> str | None:
    old, new = [int(i) for i in entry["output_ids"]], [int(i) for i in run.record.output_ids]
    step = first_divergence(old, new)
    if step is None:
        return None
    return (
        f"output changed at step {step}: baseline {_token(entry.get('output_tokens', []), old, step)}, "
        f"now {_token(list(run.attribution.output_tokens), new, step)}; "
        f"now {' '.join(run.record.output_text.split())!r}"
    )


def mass_messages(run: CaseRun) -> list[str]:
    """A case whose [decision] states ``min_label_mass`` fails when the labels hold less of the model's probability:
    the decision compared would not be one the model made. (Cases that state none are not gated on it.)"""
    from ..decision.mass import label_mass

    decision = run.record.decision
    if decision is None or (run.case.decision or {}).get("min_label_mass") is None:
        return []
    mass = label_mass(decision)
    if not mass.below:
        return []
    return [
        f"label mass {mass.text} is below the case's min_label_mass {mass.minimum:g}: the model put only {mass.text} "
        f"of its probability on the labels, so {decision.chosen} is not a decision the model made"
    ]


def gain_metric(name: str, gain: float, threshold: float | None, detail: str, sd: float, orders: int) -> Metric:
    """A faithfulness gain gated against ``threshold`` less two standard errors of its random reference.

    The random reference is a mean over ``orders`` seeded random orders (deterministic for a seed, but an
    estimate): a gain within two of its standard errors (``2 sd / sqrt(orders)``) of the threshold is not
    distinguishable from it, and failing the gate on it would measure the draw of orders, not the model. The
    detail says which side of the threshold the gain is, and the margin the gate allowed."""
    noise = 2 * sd / math.sqrt(orders) if orders > 1 and sd is not None and math.isfinite(sd) else 0.0
    if threshold is None:
        return Metric(name, gain, None, "min", detail)
    below = gain is not None and math.isfinite(gain) and gain < threshold
    detail += (
        f"; gated at {threshold:g} less 2 standard errors of the random reference ({noise:.3f}, from its spread over "
        f"{orders} orders)"
        + (": below the threshold, but not distinguishable from it" if below and gain >= threshold - noise else "")
    )
    return Metric(name, gain, threshold - noise, "min", detail)


def decision_messages(entry: dict[str, Any], run: CaseRun) -> list[str]:
    """A flipped decision, and (decision target) principal reasons that changed or were reordered."""
    from .baseline import decision_entry

    base, now = entry.get("decision"), decision_entry(run)
    if base is None or now is None:
        return [] if base is None else ["the baseline recorded a decision, this run has none: re-create the baseline"]
    messages = mass_messages(run)
    if base["chosen"] != now["chosen"]:
        messages.append(
            f"decision changed: baseline {base['chosen']} (p {base['probabilities'].get(base['chosen'], float('nan')):.3f}), "
            f"now {now['chosen']} (p {now['probabilities'][now['chosen']]:.3f})"
        )
    elif "reasons" in base and "reasons" in now and base["reasons"] != now["reasons"]:
        same = sorted(base["reasons"]) == sorted(now["reasons"])
        messages.append(
            f"principal reasons for {now['chosen']} {'reordered' if same else 'changed'}: baseline "
            f"{', '.join(base['reasons']) or 'none'}, now {', '.join(now['reasons']) or 'none'}"
        )
    return messages


def similarity(current: np.ndarray, base: np.ndarray, thresholds) -> list[Metric]:
    identical = np.array_equal(current, base)

    def rank(f):
        return 1.0 if identical else f(current, base)

    k = min(thresholds.top_k, current.size)
    return [
        Metric("spearman", rank(metrics.spearman), thresholds.spearman, "min"),
        Metric("kendall", rank(metrics.kendall), thresholds.kendall, "min"),
        Metric(
            f"top{k}_jaccard",
            metrics.top_k_jaccard(current, base, k),
            thresholds.top_k_jaccard,
            "min",
            f"top features now {metrics.top_k(current, k)}, baseline {metrics.top_k(base, k)}",
        ),
        Metric("sign_agreement", metrics.sign_agreement(current, base), thresholds.sign_agreement, "min"),
        Metric("relative_l2", metrics.relative_l2(current, base), thresholds.relative_l2, "max"),
    ]


def context_notes(baseline: Baseline, run: CaseRun) -> list[str]:
    """What changed around the model (informational: the metrics decide)."""
    notes = []
    model = baseline.data.get("model")
    if isinstance(model, dict):
        now = run.record.model.to_dict()
        moved = [
            k
            for k in ("weights_sha256", "config_sha256", "tokenizer_sha256", "chat_template_sha256")
            if model.get(k) != now.get(k)
        ]
        if moved:
            notes.append(
                f"model differs from the baseline's ({', '.join(moved)}): {model.get('name')} -> {now.get('name')}"
            )
    env = baseline.data.get("environment") or {}
    packages = env.get("packages") or {}
    now_packages = run.record.environment.packages
    moved_packages = [
        f"{p} {packages.get(p)} -> {now_packages.get(p)}"
        for p in sorted(set(packages) | set(now_packages))
        if p != "llm-audit" and packages.get(p) != now_packages.get(p)
    ]
    if moved_packages:
        notes.append("library versions differ: " + ", ".join(moved_packages))
    return notes


def fairness_metrics(result: FairnessResult, gate: FairnessGate) -> list[Metric]:
    """The fairness gate's two metrics per attribute: flip rate and parity gap, each against its absolute limit."""
    metrics = []
    for a in result.attributes:
        metrics.append(
            Metric(
                f"flip_rate[{a.field}]",
                a.flip_rate,
                gate.max_flip_rate,
                "max",
                f"{a.flipped} of {a.records} application(s) change decision under a swap of {a.field} "
                f"(Wilson 95% {a.flip_interval[0]:.2f}-{a.flip_interval[1]:.2f})",
            )
        )
        metrics.append(
            Metric(
                f"parity_gap[{a.field}]",
                a.gap,
                gate.max_parity_gap,
                "max",
                f"favourable rate {a.gap_groups[0]} vs {a.gap_groups[1]}, sign test p={a.test['p_value']:.3f}"
                if a.gap
                else "every group fares the same",
            )
        )
    return metrics


def compare_case(run: CaseRun, baseline: Baseline) -> CaseResult:
    case, entry = run.case, baseline.entry(run.case.name)
    result = CaseResult(
        name=case.name,
        output_text=run.record.output_text,
        seconds=run.seconds,
        timings=dict(run.timings),
        notes=context_notes(baseline, run),
    )

    if entry.get("definition_sha256") != case.definition_sha256():
        keys = changed_keys(entry.get("definition"), case.definition())
        result.failures.append(
            f"case definition changed since the baseline ({', '.join(keys)}): review the new output and re-create the baseline"
        )
    elif entry.get("prompt_sha256") != ids_sha256(run.record.input_ids):
        result.failures.append(
            f"prompt tokens changed ({entry.get('input_tokens')} -> {len(run.record.input_ids)} tokens) with the same case "
            "definition: the tokenizer or chat template changed"
        )
    result.failures += decision_messages(entry, run)
    changed = output_message(entry, run)
    if changed:
        result.failures.append(changed)

    base_attr = entry["attribution"]
    if list(base_attr["features"]) != list(run.attribution.features):
        result.failures.append(
            f"attribution features changed: baseline {len(base_attr['features'])} features "
            f"{base_attr['features'][:6]}, now {len(run.attribution.features)} {list(run.attribution.features)[:6]}"
        )
    else:
        current = np.round(np.asarray(run.attribution.seq_attr, dtype=np.float64), ATTR_DIGITS)
        base = np.asarray([np.nan if v is None else v for v in base_attr["seq_attr"]], dtype=np.float64)
        result.metrics += similarity(current, base, case.thresholds)

    if run.stability is not None:
        s = run.stability
        result.metrics.append(
            Metric(
                "stability",
                s.mean,
                case.thresholds.stability,
                "min",
                f"mean pairwise Spearman of {s.runs} seeds, 95% CI [{s.low:.3f}, {s.high:.3f}]",
            )
        )
    if run.faithfulness is not None:
        f = run.faithfulness
        result.metrics.append(
            gain_metric(
                "comprehensiveness_gain",
                f.comprehensiveness_gain,
                case.thresholds.comprehensiveness_gain,
                f"comprehensiveness {f.comprehensiveness:.3f} vs random {f.random_comprehensiveness:.3f} nats",
                f.random_comprehensiveness_sd,
                f.random_orders,
            )
        )
        result.metrics.append(
            gain_metric(
                "sufficiency_gain",
                f.sufficiency_gain,
                case.thresholds.sufficiency_gain,
                f"sufficiency {f.sufficiency:.3f} vs random {f.random_sufficiency:.3f} nats",
                f.random_sufficiency_sd,
                f.random_orders,
            )
        )
    if run.fairness is not None and case.fairness is not None:
        result.metrics += fairness_metrics(run.fairness, case.fairness)
    result.failures += [m.describe() for m in result.metrics if not m.passed]
    result.notes = [absorbed(note, bool(result.failures)) for note in result.notes]
    return result


def absorbed(note: str, failed: bool) -> str:
    """A library-change note says what the case's result means for it: absorbed by the thresholds, or a suspect."""
    if not note.startswith("library versions differ"):
        return note
    if failed:
        return (
            note + " (a suspect for the failures above: re-run on the baseline's versions, pinned in constraints.txt)"
        )
    return note + " (absorbed: every metric stayed within its threshold with these versions)"
