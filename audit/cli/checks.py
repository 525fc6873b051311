"""``llm-audit baseline create`` and ``llm-audit check``: attribution gates for CI.

Exit codes: 0 every case passes, 1 a case fails, 2 the suite cannot run (bad suite,
missing baseline, bad model: one line on stderr). Progress goes to stderr, so ``--json``
output on stdout stays machine-readable.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from .app import echo_json, json_option, main, make_auditor

_suite_option = click.option(
    "--suite", "suite_path", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Suite TOML."
)
_db_option = click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Keep the generated records and explanations in this database [a temporary one].",
)


def _run_options(func):
    func = click.option(
        "--dtype", type=click.Choice(["float32", "bfloat16", "float16"]), default=None, help="Model dtype [float32]."
    )(func)
    func = click.option("--device", default=None, help="cpu, cuda, cuda:N or auto [auto].")(func)
    func = click.option("--model", "model", default=None, help="Override the suite's model (folder or hub id).")(func)
    return _db_option(func)


def _progress(line: str) -> None:
    click.echo(line, err=True)


@main.group()
def baseline() -> None:
    """Attribution baselines for `llm-audit check`: create one from a suite."""


@baseline.command("create")
@_suite_option
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Baseline JSON to write."
)
@_run_options
def baseline_create(
    suite_path: Path, output: Path, db: Path | None, model: str | None, device: str | None, dtype: str | None
) -> None:
    """Generate and explain every case of a suite and write the baseline to commit.

    \b
    Example:
      llm-audit baseline create --suite examples/ci/suite.toml -o examples/ci/baseline.json
    """
    from ..checks.files import database

    started = time.perf_counter()
    with database(db) as path:
        runs = make_auditor(db=path, model=model, device=device, dtype=dtype).create_baseline(
            suite_path, output, say=_progress
        )
    for run in runs:
        text = " ".join(run.record.output_text.split())
        click.echo(
            f"{run.case.name}: {len(run.record.output_ids)} output tokens {text[:60]!r}, "
            f"{len(run.attribution.features)} {run.case.granularity} features ({run.case.method})"
            + (f", stability {run.stability.mean:.3f}" if run.stability else "")
            + (f", comprehensiveness gain {run.faithfulness.comprehensiveness_gain:.3f}" if run.faithfulness else "")
        )
    click.echo(f"wrote {output} ({len(runs)} cases) in {time.perf_counter() - started:.1f} s")


@main.command()
@_suite_option
@click.option(
    "--baseline", "baseline_path", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Baseline JSON."
)
@click.option(
    "--junit", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Also write a JUnit XML report."
)
@_run_options
@json_option
def check(
    suite_path: Path,
    baseline_path: Path,
    junit: Path | None,
    db: Path | None,
    model: str | None,
    device: str | None,
    dtype: str | None,
    as_json: bool,
) -> None:
    """Recompute every case and compare it with the baseline; exit 1 if any check fails.

    \b
    Example:
      llm-audit check --suite examples/ci/suite.toml --baseline examples/ci/baseline.json --junit report.xml
    """
    from ..checks.files import database
    from ..checks.suite_junit import suite_junit
    from ..checks.table import render_table
    from ..junit import write_junit

    started = time.time()
    with database(db) as path:
        result = make_auditor(db=path, model=model, device=device, dtype=dtype).check(
            suite_path, baseline_path, say=_progress
        )
    if junit is not None:
        write_junit(junit, suite_junit(result, started))
    if as_json:
        echo_json(result.to_dict())
    else:
        click.echo(render_table(result))
    sys.exit(0 if result.passed else 1)
