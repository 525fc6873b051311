"""CI gates on explanations: a suite of cases, a baseline, and the metrics that compare them.

``llm-audit baseline create`` records what each case's output and attribution were when
signed off; ``llm-audit check`` recomputes them and fails (exit 1) when the output, the
attribution's ranking/overlap/sign/magnitude, its run-to-run stability or its
faithfulness moved past a threshold.
"""

from .assertion import assert_attribution_stable
from .baseline import Baseline, build_baseline, load_baseline, write_baseline
from .compare import CaseResult, Metric, compare_case
from .runner import Runner, SuiteResult, check_case, check_suite
from .suite import Case, Suite, Thresholds, load_suite

__all__ = [
    "Baseline",
    "Case",
    "CaseResult",
    "Metric",
    "Runner",
    "Suite",
    "SuiteResult",
    "Thresholds",
    "assert_attribution_stable",
    "build_baseline",
    "check_case",
    "check_suite",
    "compare_case",
    "load_baseline",
    "load_suite",
    "write_baseline",
]
