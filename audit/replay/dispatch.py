"""Which replay a record gets: regenerated on a model here, or re-sent to the server it was proxied from.

Kept apart from the runner so that re-sending a record upstream never imports torch.
"""

from __future__ import annotations

from ..model import LoadedModel
from ..record import GenerationRecord
from ..tolerances import check_tolerance
from .models import ReplayModels
from .result import ReplayResult


def replay_one(
    record: GenerationRecord,
    models: ReplayModels,
    model: str | LoadedModel | None,
    upstream: str | None,
    allow_model_mismatch: bool,
    tolerance: float,
) -> ReplayResult:
    """Replay ``record`` on ``model`` (else its own, from ``models``), or re-send it to ``upstream`` if given."""
    options = {"allow_model_mismatch": allow_model_mismatch, "tolerance": check_tolerance(tolerance)}
    if upstream is not None:
        from .upstream import replay_upstream

        return replay_upstream(record, upstream, **options)
    from .runner import replay_record

    return replay_record(record, models.for_record(record, model), **options)
