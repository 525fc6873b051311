"""The main job, end to end on the example cases: record (then explain, attention, report).

Each stage is a function ``(auditor, cases, records, say) -> None`` in :data:`STAGES`,
run in order; later components append theirs. ``say`` prints progress for a person.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from tqdm import tqdm

from .auditor import Auditor
from .examples import ExampleCase
from .record import GenerationRecord

Say = Callable[[str], None]


@dataclass
class DemoResult:
    records: list[GenerationRecord] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)  # stage -> path or summary line


def record_stage(auditor: Auditor, cases: list[ExampleCase], result: DemoResult, say: Say) -> None:
    auditor.loaded  # load (and on first use convert) the model before the progress bar starts
    for case in tqdm(cases, desc="recording", unit="case", disable=None):
        result.records.append(auditor.generate(**case.generate_kwargs()))
    for case, record in zip(cases, result.records):
        text = " ".join(record.output_text.split())
        say(f"  {record.id}  {case.name:30}  {record.output_tokens:>3} tokens  {text[:70]}")


def report_stage(auditor: Auditor, cases: list[ExampleCase], result: DemoResult, say: Say) -> None:
    """A dossier per demo record and a summary of this run, in ``out/`` (git-ignored)."""
    from pathlib import Path

    out = Path("out")
    out.mkdir(exist_ok=True)
    dossiers = [auditor.report([record.id], out / f"dossier-{record.id}.html") for record in result.records]
    summary = auditor.report(None, out / "summary.html", since=result.records[0].started_at)
    for report in dossiers:
        say(f"  dossier {report.path} ({report.size_bytes / 1024:.0f} KiB, {report.seconds:.2f} s)")
    say(f"  summary {summary.path} ({summary.size_bytes / 1024:.0f} KiB, {len(summary.record_ids)} records)")
    result.outputs["report"] = f"{dossiers[0].path.resolve()} and {summary.path.resolve()}"


STAGES: list[tuple[str, Callable[[Auditor, list[ExampleCase], DemoResult, Say], None]]] = [
    ("record", record_stage),
    ("report", report_stage),
]


def run_demo(auditor: Auditor, cases: list[ExampleCase], say: Say) -> DemoResult:
    result = DemoResult()
    for name, stage in STAGES:
        say(f"[{name}]")
        started = time.perf_counter()
        stage(auditor, cases, result, say)
        result.seconds[name] = time.perf_counter() - started
    return result
