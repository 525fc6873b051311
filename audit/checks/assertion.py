"""``assert_attribution_stable(case, baseline)``: the check as one assertion in a team's own tests."""

from __future__ import annotations

from pathlib import Path

from ..model import LoadedModel
from .baseline import Baseline, load_baseline
from .compare import CaseResult
from .files import database
from .runner import Runner, check_case
from .suite import Case, Thresholds, build_case, load_suite


class AttributionCheckFailed(AssertionError):
    """An ``AssertionError`` (pytest shows it as a test failure) carrying the full result."""

    def __init__(self, result: CaseResult) -> None:
        self.result = result
        super().__init__(f"attribution check failed for {result.name}:\n  " + "\n  ".join(result.failures))


def case_from_baseline(name: str, baseline: Baseline, thresholds: Thresholds | None = None) -> Case:
    """Rebuild a case from the definition its baseline stored (no suite file needed)."""
    definition = dict(baseline.entry(name)["definition"])
    raw = {
        **definition.pop("inputs"),
        **{
            k: v
            for k, v in definition.items()
            if k in ("name", "use_case", "seed", "generation", "method", "granularity", "params", "stability_seeds")
        },
    }
    case = build_case(raw, {}, Path.cwd(), 0)
    if thresholds is not None:
        case.thresholds = thresholds
    return case


def assert_attribution_stable(
    case: Case | str,
    baseline: Baseline | str | Path,
    *,
    suite: str | Path | None = None,
    model: str | LoadedModel | None = None,
    runner: Runner | None = None,
    db: str | Path | None = None,
) -> CaseResult:
    """Generate and explain ``case`` and compare it with ``baseline``; raise if any check fails.

    ``case``: a :class:`Case`, or a case name looked up in ``suite`` (a suite file) or, without
    one, rebuilt from the definition stored in the baseline. Returns the result when it passes.
    """
    loaded = baseline if isinstance(baseline, Baseline) else load_baseline(baseline)
    suite_model = None
    if isinstance(case, str):
        if suite is not None:
            parsed = load_suite(suite)
            suite_model = parsed.model
            case = parsed.case(case)
        else:
            case = case_from_baseline(case, loaded)
    if runner is not None:
        result = check_case(case, loaded, runner, suite_model)
    else:
        from ..auditor import Auditor

        with database(db) as path:
            result = check_case(case, loaded, Runner.on(Auditor(path, model)), suite_model)
    if not result.passed:
        raise AttributionCheckFailed(result)
    return result
