"""How far a recomputed log-probability may be from the recorded one, in one place.

Two numbers, for two different questions:

* ``REPLAY_TOLERANCE`` (1e-4 nats per token): is a reproduction *the same computation*? A
  replay within it is ``identical``; an attention pass beyond it is refused, because its maps
  would describe another computation. float32 kernels on one machine agree to ~1e-6.
* ``EXPLAIN_TOLERANCE`` (1e-3): does an explanation's unperturbed forward pass describe the
  recorded generation closely enough that its attributions are about that generation? Beyond
  it the explanation is stored with a warning and the dossier flags it.

The reasons gate's fractions (``REASONS_*``, at the end) say when an explanation of an adverse decision is
faithful enough to be worded as an adverse-action notice's principal reasons.

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


# The reasons gate (:mod:`audit.report.reasons_gate`): what an explanation of an adverse decision must meet
# before its figures are offered as the principal reasons on an adverse-action notice.
#: completeness: the attributions' sum within this fraction of the score change they explain
REASONS_COMPLETENESS = 0.2
#: deletion: removing the stated reasons together moves the score by the claimed amount, within this fraction
REASONS_DELETION = 0.25
#: materiality: removing every field must move the log-odds by at least this much, or no field is a reason
REASONS_MIN_CHANGE = 0.1
#: materiality: ... and by at least this share of the log-odds they are to explain
REASONS_MIN_SHARE = 0.1
