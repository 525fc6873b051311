"""``llm-audit demo``: the main job on the example cases and the default model."""

from __future__ import annotations

import time
from pathlib import Path

import click

from ..examples import load_examples
from .app import db_option, key_store_option, main, make_auditor, model_options
from .options import policy_option


@main.command()
@click.option(
    "--examples",
    "examples_dir",
    type=click.Path(path_type=Path),
    default=Path("examples"),
    show_default=True,
    help="Folder of *.toml cases.",
)
@policy_option
@key_store_option
@db_option
@model_options
def demo(
    examples_dir: Path,
    policy: Path | None,
    key_store: Path | None,
    db: Path,
    model: str | None,
    device: str | None,
    dtype: str | None,
) -> None:
    """Record every example case (then explain and report them) into the database; with --policy, its [demo]
    cases are added and every record is redacted and sealed.

    \b
    Example:
      llm-audit demo --db demo.db
      llm-audit demo --policy examples/privacy/policy.toml --db private.db
    """
    cases = load_examples(examples_dir)
    auditor = make_auditor(db=db, model=model, device=device, dtype=dtype, policy=policy, key_store=key_store)
    if auditor.policy is not None:
        from ..examples import load_case

        cases += [load_case(path) for path in auditor.policy.demo_cases]
    started = time.perf_counter()
    click.echo(f"llm-audit demo: {len(cases)} example cases from {examples_dir} into {db}")
    from ..demo import run_demo  # imports torch: not needed for --help

    result = run_demo(auditor, cases, click.echo)
    stages = ", ".join(f"{name} {secs:.1f} s" for name, secs in result.seconds.items())
    click.echo(f"done in {time.perf_counter() - started:.1f} s ({stages}); {len(result.records)} records in {db}")
    for stage, output in result.outputs.items():
        click.echo(f"{stage}: {output}")
