"""Attention maps of recorded generations: captured, aggregated, rolled out, head importance."""

from .result import AttentionResult

__all__ = ["AttentionResult"]
