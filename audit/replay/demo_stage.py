"""The demo's ``replay`` stage: every record the demo just made must replay ``identical``.

Kept here, not in :mod:`audit.demo`, so the replay component owns its stage; the demo
only lists it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..auditor import Auditor
    from ..demo import DemoResult
    from ..examples import ExampleCase


def replay_stage(auditor: Auditor, cases: list[ExampleCase], result: DemoResult, say: Callable[[str], None]) -> None:
    replays = auditor.replay_many([record.id for record in result.records], progress=True)
    for case, replayed in zip(cases, replays):
        say(
            f"  {replayed.record_id}  {case.name:30}  {replayed.headline:13}  max |Δ lp| {replayed.max_logprob_diff or 0:.1e}  {replayed.seconds:.2f} s"
        )
    identical = sum(r.verdict == "identical" and r.model_matches for r in replays)
    summary = f"{identical}/{len(replays)} records replay identical"
    if identical != len(replays):
        summary += " - NOT all: run `llm-audit replay ID` to see the first divergence"
    result.outputs["replay"] = summary
