"""The method section (``method.html.j2``): how each explanation was computed and the checks of its figures."""

from __future__ import annotations

from dataclasses import dataclass

from ...attribution.result import AttributionResult
from ...tolerances import CONVERGENCE_DELTA, EXPLAIN_TOLERANCE
from ..completeness import completeness_of
from ..evidence import Evidence
from ..reasons import field_words
from .values import Rows, value_text


@dataclass
class Method:
    attributions: list[tuple[str, Rows]]  # (title, rows) per attribution shown
    attention: Rows
    checks: list[tuple[str, str, str]]  # (check, result, verdict "pass" | "warn" | "n/a")


def _attribution_rows(result: AttributionResult) -> Rows:
    target = result.target
    rows: Rows = [
        ("Method", result.method),
        ("Granularity", result.granularity),
        ("Features", str(len(result.features))),
    ]
    if target.kind == "decision":
        rows.append(("Target", f"log p({target.label}) - log p({target.contrast}) = {float(target.score or 0):+.4f}"))
    else:
        rows.append(("Output tokens", str(len(result.output_tokens))))
    rows += [(field_words(k), value_text(v)) for k, v in sorted(result.params.items()) if k != "target"]
    rows.append(("Target description", target.description or "—"))
    if result.convergence_delta:
        rows.append(("Largest |convergence delta|", f"{max(abs(x) for x in result.convergence_delta):.3g}"))
    rows.append(("Computed", f"{result.created_at or '—'} in {result.seconds:.2f} s"))
    return rows


def method_section(evidence: Evidence) -> Method:
    attributions = []
    checks: list[tuple[str, str, str]] = []
    for title, result in (
        ("Decision attribution (fields)", evidence.decision_attribution),
        ("Decision attribution (tokens)", evidence.decision_token_attribution),
        ("Field attribution of the text", evidence.field_attribution),
        ("Token attribution of the text", evidence.token_attribution),
    ):
        if result is None:
            continue
        if result.granularity == "segment":
            title = title.replace("fields", "segments").replace("Field", "Segment")
        attributions.append((title, _attribution_rows(result)))
        if (result.extra or {}).get("model_mismatch"):
            checks.append((f"{title}: computed on the recorded model", f"no: {result.extra['model_mismatch']}", "warn"))
        complete = completeness_of(result, "score")
        if complete is not None:
            checks.append(
                (
                    f"{title}: completeness (attributions against the score change)",
                    f"sum {complete.attributed:+.3g}, change {complete.change:+.3g}, gap {complete.gap:+.3g}",
                    "pass" if complete.adds_up else "warn",
                )
            )
        if result.logprob_max_diff is not None:
            ok = result.logprob_max_diff <= EXPLAIN_TOLERANCE
            what = "label" if result.target.kind == "decision" else "output"
            checks.append(
                (
                    f"{title}: unperturbed vs recorded {what} log-probabilities",
                    f"max difference {result.logprob_max_diff:.2e} (tolerance {EXPLAIN_TOLERANCE:g})",
                    "pass" if ok else "warn",
                )
            )
        if result.convergence_delta:
            delta = max(abs(x) for x in result.convergence_delta)
            checks.append(
                (
                    f"{title}: integrated-gradients completeness",
                    f"largest |convergence delta| {delta:.3g}",
                    "pass" if delta <= CONVERGENCE_DELTA else "warn",
                )
            )
    counterfactual = evidence.counterfactual
    if counterfactual is not None:
        ok = counterfactual.logprob_max_diff <= EXPLAIN_TOLERANCE
        checks.append(
            (
                "Counterfactual run: recorded prompt re-scored vs recorded label log-probabilities",
                f"max difference {counterfactual.logprob_max_diff:.2e} (tolerance {EXPLAIN_TOLERANCE:g})",
                "pass" if ok else "warn",
            )
        )
    for standing in evidence.fairness_flips:
        ok = standing.run.logprob_max_diff <= EXPLAIN_TOLERANCE
        checks.append(
            (
                f"Protected-attribute run {standing.run.id}: recorded prompts re-scored vs recorded label log-probabilities",
                f"max difference {standing.run.logprob_max_diff:.2e} over its records (tolerance {EXPLAIN_TOLERANCE:g})",
                "pass" if ok else "warn",
            )
        )
    attention: Rows = []
    result = evidence.attention
    if result is not None:
        attention = [
            ("Layers x heads", f"{result.layers} x {result.heads}"),
            ("Rollout", "attention rollout (Abnar & Zuidema 2020), residual added, rows renormalised"),
            ("Head importance", result.head_importance_method),
            ("Computed", f"{result.created_at or '—'} in {result.seconds:.2f} s"),
        ]
        if result.logprob_max_diff is not None:
            ok = result.logprob_max_diff <= EXPLAIN_TOLERANCE
            checks.append(
                (
                    "Attention pass vs recorded log-probabilities",
                    f"max difference {result.logprob_max_diff:.2e} (tolerance {EXPLAIN_TOLERANCE:g})",
                    "pass" if ok else "warn",
                )
            )
    return Method(attributions, attention, checks)
