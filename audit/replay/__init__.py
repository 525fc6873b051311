"""Replay: reproduce a recorded generation and say how far the reproduction got.

``model_check`` (is it the same model, by hashes), ``environment_diff`` (what changed
around it), ``config`` (the recorded decoding parameters), ``compare`` (the verdict) and
``runner`` (the one function that ties them together).
"""
from .compare import DEFAULT_TOLERANCE
from .runner import replay_record

__all__ = ["DEFAULT_TOLERANCE", "replay_record"]
