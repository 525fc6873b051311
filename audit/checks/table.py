"""The readable summary ``llm-audit check`` prints: one row per case, then why each failure failed."""

from __future__ import annotations

import math

from .compare import CaseResult
from .runner import SuiteResult

COLUMNS = (
    ("spearman", "spearman"),
    ("kendall", "kendall"),
    ("top-k", "top"),
    ("sign", "sign_agreement"),
    ("rel L2", "relative_l2"),
    ("stability", "stability"),
    ("comp gain", "comprehensiveness_gain"),
    ("suff gain", "sufficiency_gain"),
)


def _cell(case: CaseResult, key: str) -> str:
    metric = next((m for m in case.metrics if m.name == key or (key == "top" and m.name.startswith("top"))), None)
    if metric is None:
        return "-"
    if metric.value is None or math.isnan(metric.value):
        text = "nan"
    else:
        text = f"{metric.value:.3f}"
    return text + ("" if metric.passed else "!")


def render_table(result: SuiteResult) -> str:
    header = ["case", "result", *(title for title, _ in COLUMNS), "time"]
    rows = [
        [
            case.name,
            "PASS" if case.passed else "FAIL",
            *(_cell(case, key) for _, key in COLUMNS),
            f"{case.seconds:.1f}s",
        ]
        for case in result.cases
    ]
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]

    def line(row):
        return "  ".join(str(v).ljust(w) if i < 2 else str(v).rjust(w) for i, (v, w) in enumerate(zip(row, widths)))

    out = [line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]
    for case in result.cases:
        if case.failures or case.notes:
            out.append("")
        for failure in case.failures:
            out.append(f"FAIL {case.name}: {failure}")
        for note in case.notes:
            out.append(f"note {case.name}: {note}")
    verdict = "passed" if result.passed else f"FAILED ({result.failed} of {len(result.cases)} cases)"
    out += ["", f"{result.suite}: {verdict} in {result.seconds:.1f} s   ('!' marks a metric past its threshold)"]
    return "\n".join(out)
