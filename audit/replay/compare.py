"""The verdict: compare a replayed output with the recorded one, token by token.

Three levels, from best to worst:

* ``identical``: same output ids and every per-token log-probability within the tolerance;
* ``logprob-drift``: same ids, but some log-probability moved by more than the tolerance
  (a numerics change that has not yet flipped a decision);
* ``diverged``: different ids. The first differing step is reported with the recorded
  top-1 minus top-2 log-probability margin there: a margin near zero is a near-tie that
  any rounding change can flip, a large margin means the model really behaves differently.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..record import GenerationRecord
from ..tolerances import REPLAY_TOLERANCE
from .result import Divergence

# A recorded top-1/top-2 margin below this (in nats) is shown as a near-tie: float32
# kernel differences move log-probabilities by ~1e-6..1e-3, so only such margins flip.
NEAR_TIE = 0.1
END = -1  # token id shown when one sequence has already ended at the divergent step
END_TEXT = "<end of output>"


@dataclass
class Comparison:
    verdict: str
    first_divergence: Divergence | None
    max_logprob_diff: float | None  # over the steps both outputs share, up to the divergence


def margin(alternatives: list[tuple[int, float]]) -> float | None:
    """Top-1 minus top-2 log-probability of one step's ranked alternatives."""
    if len(alternatives) < 2:
        return None
    ranked = sorted((lp for _, lp in alternatives), reverse=True)
    return float(ranked[0] - ranked[1])


def compare_outputs(
    record: GenerationRecord,
    replayed_ids: list[int],
    replayed_logprobs: list[float],
    replayed_top: list[list[tuple[int, float]]],
    decode,
    tolerance: float = REPLAY_TOLERANCE,
) -> Comparison:
    """``decode``: token id -> text, for showing the two tokens at a divergence."""
    recorded_ids = list(record.output_ids)
    step = next((i for i, (a, b) in enumerate(zip(recorded_ids, replayed_ids)) if a != b), None)
    if step is None and len(recorded_ids) != len(replayed_ids):
        step = min(len(recorded_ids), len(replayed_ids))
    shared = len(recorded_ids) if step is None else step
    diffs = [abs(a - b) for a, b in zip(record.token_logprobs[:shared], replayed_logprobs[:shared])]
    max_diff = max(diffs) if diffs else None
    if step is None:
        verdict = "identical" if max_diff is None or max_diff <= tolerance else "logprob-drift"
        return Comparison(verdict, None, max_diff)

    def token_at(ids: list[int]) -> tuple[int, str]:
        return (ids[step], decode(ids[step])) if step < len(ids) else (END, END_TEXT)

    recorded_id, recorded_text = token_at(recorded_ids)
    replayed_id, replayed_text = token_at(replayed_ids)
    recorded_alts = (
        [(a.token_id, a.logprob) for a in record.top_logprobs[step]] if step < len(record.top_logprobs) else []
    )
    replayed_alts = replayed_top[step] if step < len(replayed_top) else []
    divergence = Divergence(
        step=step,
        recorded_token_id=recorded_id,
        recorded_token=recorded_text,
        replayed_token_id=replayed_id,
        replayed_token=replayed_text,
        recorded_margin=margin(recorded_alts),
        replayed_margin=margin(replayed_alts),
        recorded_logprob_of_replayed=next((lp for i, lp in recorded_alts if i == replayed_id), None),
    )
    return Comparison("diverged", divergence, max_diff)
