"""How far a recomputed log-probability may be from the recorded one, in one place.

Two numbers, for two different questions:

* ``REPLAY_TOLERANCE`` (1e-4 nats per token): is a reproduction *the same computation*? A
  replay within it is ``identical``; an attention pass beyond it is refused, because its maps
  would describe another computation. float32 kernels on one machine agree to ~1e-6.
* ``EXPLAIN_TOLERANCE`` (1e-3): does an explanation's unperturbed forward pass describe the
  recorded generation closely enough that its attributions are about that generation? Beyond
  it the explanation is stored with a warning and the dossier flags it.

Kept free of heavy imports so the CLI can show them in ``--help`` without loading torch.
"""

from __future__ import annotations

from .errors import UserError

REPLAY_TOLERANCE = 1e-4
EXPLAIN_TOLERANCE = 1e-3


def check_tolerance(tolerance: float) -> float:
    """A replay tolerance as a float, refused (UserError) unless it is a number >= 0."""
    try:
        value = float(tolerance)
    except (TypeError, ValueError):
        raise UserError(
            f"tolerance must be a number (got {tolerance!r}): pass e.g. --tolerance {REPLAY_TOLERANCE:g}"
        ) from None
    if not value >= 0:  # also refuses NaN
        raise UserError(f"tolerance must be >= 0 (got {tolerance!r}): pass e.g. --tolerance {REPLAY_TOLERANCE:g}")
    return value
