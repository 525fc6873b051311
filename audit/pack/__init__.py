"""Evidence packs: a signed, self-verifying export of many decisions, checked offline.

:func:`export` verifies the log and writes a pack (:mod:`.export`: selection, :mod:`.collect`,
:mod:`.proofs`, :mod:`.folder`, :mod:`.parquet`, :mod:`.reports`); :func:`verify_pack` checks one with
:mod:`.verifier`, the verifier a recipient runs with only ``cryptography`` installed (``python verifier/verify_pack.py``).
"""

from __future__ import annotations

from .api import export, pinned_keys, verify_pack
from .export import ExportOptions, ExportResult
from .selection import Selection
from .verifier import CannotCheck, Result

__all__ = [
    "CannotCheck",
    "ExportOptions",
    "ExportResult",
    "Result",
    "Selection",
    "export",
    "pinned_keys",
    "verify_pack",
]
