"""Every threshold the audit judges by, in one place, each with its reason.

How far a recomputed log-probability may be from the recorded one: two numbers, for two
different questions:

* ``REPLAY_TOLERANCE`` (1e-4 nats per token): is a reproduction *the same computation*? A
  replay within it is ``identical``; an attention pass beyond it is refused, because its maps
  would describe another computation. float32 kernels on one machine agree to ~1e-6.
* ``EXPLAIN_TOLERANCE`` (1e-3): does an explanation's unperturbed forward pass describe the
  recorded generation closely enough that its attributions are about that generation? Beyond
  it the explanation is stored with a warning and the dossier flags it.

How the reports judge and word an explanation (``audit/report/``): when its figures add up
(``COMPLETENESS_*``), when integrated gradients converged (``CONVERGENCE_DELTA``), when a field's
share of the effect is a reason at all and how strongly it is worded (``*_SHARE``). The reasons
gate's fractions (``REASONS_*``) say when an explanation of an adverse decision is faithful enough
to be worded as an adverse-action notice's principal reasons.

Kept free of heavy imports so the CLI can show them in ``--help`` without loading torch.
"""

from __future__ import annotations

from .errors import UserError

REPLAY_TOLERANCE = 1e-4
EXPLAIN_TOLERANCE = 1e-3

# An explanation's attributions add up to its score change when the gap is within 5 % of that
# change, and at least 0.01 (a change near zero would otherwise make any rounding a failure).
COMPLETENESS_RELATIVE_GAP = 0.05
COMPLETENESS_ABSOLUTE_GAP = 0.01

# Integrated gradients' largest |convergence delta| (per output token) up to which the dossier's
# method section says "pass": beyond it more steps are needed for the path integral to converge.
CONVERGENCE_DELTA = 0.05

# Below 2 % of the summed absolute attribution a field is not a principal reason (of a decision
# or of the text): it is noise next to the fields listed.
NEGLIGIBLE_SHARE = 0.02

# How a reason's share of the summed absolute attribution is worded: "strongly" from 40 %,
# "moderately" from 15 %, else "slightly" (about the top one, two, and the rest of four reasons).
STRONG_SHARE = 0.4
MODERATE_SHARE = 0.15


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
