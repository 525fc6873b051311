"""Run a suite: generate each case into a database, explain it, measure stability and faithfulness.

Generation and explanation go through :class:`audit.Auditor`, exactly as a user's audit
would, so the check exercises the same code path that produces regulator-facing records.
The database is a throwaway one unless the caller keeps it (``--db``) to inspect the runs.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..auditor import Auditor
from ..model import LoadedModel
from . import faithfulness as faithfulness_mod
from .baseline import Baseline
from .compare import CaseResult, compare_case
from .run import CaseRun
from .stability import stability
from .suite import Case, Suite

Say = Callable[[str], None]
SEED_PARAM = "perturbation_seed"  # the explainer's seed of a stochastic method's perturbations


def _quiet(_: str) -> None:
    pass


@contextmanager
def database(db: str | Path | None) -> Iterator[Path]:
    if db is not None:
        yield Path(db)
        return
    with tempfile.TemporaryDirectory(prefix="llm-audit-check-") as folder:
        yield Path(folder) / "check.db"


class Runner:
    """Runs cases with one :class:`Auditor` per model (models load once per suite run)."""

    def __init__(
        self, db: Path, model: str | LoadedModel | None = None, *, device: str | None = None, dtype: str | None = None
    ) -> None:
        self.db = db
        self.model = model
        self.device = device
        self.dtype = dtype
        self._auditors: dict[str, Auditor] = {}

    def auditor(self, suite_model: str | None) -> Auditor:
        spec = self.model if self.model is not None else suite_model
        key = "loaded" if isinstance(spec, LoadedModel) else str(spec)
        if key not in self._auditors:
            self._auditors[key] = Auditor(db=self.db, model=spec, device=self.device, dtype=self.dtype)
        return self._auditors[key]

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
                + (f" seed {first_seed + offset}" if case.stability_seeds > 1 else "")
            )
            params: dict[str, Any] = dict(case.params)
            if case.stability_seeds > 1:
                params[SEED_PARAM] = first_seed + offset
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
