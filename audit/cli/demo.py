"""``llm-audit demo``: the main job on the example cases and the default model."""
from __future__ import annotations

import time
from pathlib import Path

import click

from ..auditor import Auditor
from ..demo import run_demo
from ..examples import load_examples
from .app import db_option, main, model_options


@main.command()
@click.option("--examples", "examples_dir", type=click.Path(path_type=Path), default=Path("examples"), show_default=True, help="Folder of *.toml cases.")
@db_option
@model_options
def demo(examples_dir: Path, db: Path, model: str | None, device: str | None, dtype: str | None) -> None:
    """Record every example case (then explain and report them) into the database.

    \b
    Example:
      llm-audit demo --db demo.db
    """
    cases = load_examples(examples_dir)
    auditor = Auditor(db=db, model=model, device=device, dtype=dtype)
    started = time.perf_counter()
    click.echo(f"llm-audit demo: {len(cases)} example cases from {examples_dir} into {db}")
    result = run_demo(auditor, cases, click.echo)
    stages = ", ".join(f"{name} {secs:.1f} s" for name, secs in result.seconds.items())
    click.echo(f"done in {time.perf_counter() - started:.1f} s ({stages}); {len(result.records)} records in {db}")
    for stage, output in result.outputs.items():
        click.echo(f"{stage}: {output}")
