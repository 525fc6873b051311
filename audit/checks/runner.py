"""Run a suite: generate each case into a database, explain it, measure stability and faithfulness.

Generation and explanation go through an :class:`audit.Auditor`, exactly as a user's audit
would, so the check exercises the same code path that produces regulator-facing records. The
runner is handed a function that gives the Auditor for a suite's model (this module is below
the façade and never imports it). The database is a throwaway one unless the caller keeps it
(``--db``) to inspect the runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import faithfulness as faithfulness_mod
from .baseline import Baseline, build_baseline, load_baseline, write_baseline
from .compare import CaseResult, compare_case
from .run import CaseRun
from .stability import stability
from .suite import Case, Suite, load_suite

if TYPE_CHECKING:
    from ..auditor import Auditor

Say = Callable[[str], None]
AuditorFor = Callable[[str | None], "Auditor"]  # the suite's model spec -> the Auditor that runs its cases
SEED_PARAM = "perturbation_seed"  # the explainer's seed of a stochastic method's perturbations


def _quiet(_: str) -> None:
    pass


class Runner:
    """Runs cases, each on the Auditor ``auditor_for`` gives for the suite's model (loaded once per model)."""

    def __init__(self, auditor_for: AuditorFor) -> None:
        self.auditor_for = auditor_for

    @classmethod
    def on(cls, auditor: Auditor) -> Runner:
        """Cases run on ``auditor``'s database: on its model when it was given one, else on each
        suite's own model (one Auditor, so one loaded model, per model)."""
        others: dict[str, Auditor] = {}

        def auditor_for(suite_model: str | None) -> Auditor:
            if suite_model is None or auditor.model_given:
                return auditor
            if suite_model not in others:
                others[suite_model] = auditor.with_model(suite_model)
            return others[suite_model]

        return cls(auditor_for)

    def auditor(self, suite_model: str | None) -> Auditor:
        return self.auditor_for(suite_model)

    def run_case(self, case: Case, suite_model: str | None = None, say: Say = _quiet) -> CaseRun:
        started = time.perf_counter()
        timings: dict[str, float] = {}
        clock = [started]

        def lap(step: str) -> None:
            now = time.perf_counter()
            timings[step] = round(timings.get(step, 0.0) + now - clock[0], 3)
            clock[0] = now

        auditor = self.auditor(suite_model)
        _ = auditor.loaded  # the first case of a model pays its load, timed apart from generation
        lap("load")
        say("generate")
        record = auditor.generate(**case.generate_kwargs())
        lap("generate")
        first_seed = int(case.params.get(SEED_PARAM, 0))
        runs = []
        for offset in range(case.stability_seeds):
            say(
                f"explain {case.method}/{case.granularity}"
                + (" (decision)" if case.target == "decision" else "")
                + (f" seed {first_seed + offset}" if case.stability_seeds > 1 else "")
            )
            params: dict[str, Any] = dict(case.params)
            if case.stability_seeds > 1:
                params[SEED_PARAM] = first_seed + offset
            params.update(case.explain_params())
            runs.append(auditor.explain(record.id, method=case.method, granularity=case.granularity, **params))
            lap("explain")
        run = CaseRun(case=case, record=record, attribution=runs[0], runs=runs)
        if len(runs) > 1:
            run.stability = stability([r.seq_attr for r in runs])
        if case.faithfulness:
            say("faithfulness")
            loaded = auditor.loaded
            run.faithfulness = faithfulness_mod.measure(
                loaded.model,
                loaded.tokenizer,
                record,
                run.attribution,
                random_orders=case.random_orders,
                seed=case.seed,
            )
            lap("faithfulness")
        if case.fairness is not None:
            say("fairness")
            from .fairness_gate import measure

            run.fairness = measure(auditor.loaded, auditor.get(record.id, clear=True), case.fairness)
            lap("fairness")
        run.seconds = time.perf_counter() - started
        run.timings = {k: v for k, v in timings.items() if k != "load" or v >= 0.001}
        return run

    def run_suite(self, suite: Suite, say: Say = _quiet) -> list[CaseRun]:
        results = []
        total = len(suite.cases)
        for index, case in enumerate(suite.cases, 1):
            say(f"[{index}/{total}] {case.name}: ")
            run = self.run_case(
                case, suite.model, lambda step, name=case.name, index=index: say(f"[{index}/{total}] {name}: {step}")
            )
            steps = ", ".join(f"{step} {seconds:.1f} s" for step, seconds in run.timings.items())
            say(f"[{index}/{total}] {case.name}: done in {run.seconds:.1f} s ({steps})")
            results.append(run)
        return results


@dataclass
class SuiteResult:
    suite: str
    cases: list[CaseResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.cases)

    @property
    def failed(self) -> int:
        return sum(not c.passed for c in self.cases)

    def to_dict(self) -> dict[str, Any]:
        return {
            "suite": self.suite,
            "passed": self.passed,
            "cases_total": len(self.cases),
            "cases_failed": self.failed,
            "seconds": round(self.seconds, 3),
            "cases": [c.to_dict() for c in self.cases],
        }


def check_suite(suite: Suite, baseline: Baseline, runner: Runner, say: Say = _quiet) -> SuiteResult:
    """Every suite case must have a baseline entry; checked before any model is loaded."""
    for case in suite.cases:
        baseline.entry(case.name)
    started = time.perf_counter()
    runs = runner.run_suite(suite, say)
    return SuiteResult(
        suite=suite.name, cases=[compare_case(run, baseline) for run in runs], seconds=time.perf_counter() - started
    )


def check_case(case: Case, baseline: Baseline, runner: Runner, suite_model: str | None = None) -> CaseResult:
    baseline.entry(case.name)
    return compare_case(runner.run_case(case, suite_model), baseline)


def check_files(auditor: Auditor, suite_path: Path, baseline_path: Path, say: Say | None = None) -> SuiteResult:
    """:func:`check_suite` of a suite file against a baseline file, both read before any model loads."""
    suite, baseline = load_suite(suite_path), load_baseline(baseline_path)
    return check_suite(suite, baseline, Runner.on(auditor), say or _quiet)


def create_baseline_file(auditor: Auditor, suite_path: Path, output: Path, say: Say | None = None) -> list[CaseRun]:
    """Run every case of the suite file and write the baseline to ``output``; returns the runs."""
    suite = load_suite(suite_path)
    runs = Runner.on(auditor).run_suite(suite, say or _quiet)
    write_baseline(build_baseline(suite, runs), output)
    return runs
