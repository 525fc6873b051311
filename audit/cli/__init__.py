"""``llm-audit``: a thin command line over :class:`audit.Auditor`, one command per method.

Every command module registers itself on :data:`main`; errors a user can cause print one
line and exit 2 (see :mod:`audit.errors`).
"""

from __future__ import annotations

from . import (  # noqa: F401,E402 - registers the commands
    attention,
    checks,
    demo,
    explain,
    fairness,
    generate,
    integrity,
    merge,
    monitor,
    pack,
    privacy,
    records,
    replay,
    report,
    review,
    serve,
    spool,
    telemetry,
    witness,
)
from .app import main

__all__ = ["main"]
