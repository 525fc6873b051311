"""Replay: reproduce a recorded generation and say how far the reproduction got.

``model_check`` (is it the same model, by hashes), ``environment_diff`` (what changed
around it), ``config`` (the recorded decoding parameters), ``compare`` (the verdict) and
``runner`` (the one function that ties them together).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .result import VERDICTS, Divergence, ReplayResult

if TYPE_CHECKING:
    from .runner import replay_record

__all__ = ["VERDICTS", "Divergence", "ReplayResult", "replay_record"]


def __getattr__(name: str) -> Any:
    """``replay_record`` on first use: the runner imports torch, the CLI's help should not."""
    if name == "replay_record":
        from .runner import replay_record

        return replay_record
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
