"""The verdict: compare a replayed output with the recorded one, token by token.

Four levels, from best to worst:

* ``identical``: same output ids and every per-token log-probability within the tolerance;
* ``logprob-drift``: same ids, but some log-probability moved by more than the tolerance
  (a numerics change that has not yet flipped a decision);
* ``diverged``: different ids. The first differing step is reported with the recorded
  top-1 minus top-2 log-probability margin there: a margin near zero is a near-tie that
  any rounding change can flip, a large margin means the model really behaves differently;
* ``decision-changed`` (records with a decision): the most probable label is another one than the
  recorded decision, whatever the text did (identical up to the tolerance or not): what the record
  says was decided is no longer what the model decides.

The decision's label log-probabilities are compared like the text's: beyond the tolerance, a replay
whose text is identical is ``logprob-drift``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..decision.outcome import normalised, ranked
from ..record import DecisionRecord, GenerationRecord
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


@dataclass
class DecisionComparison:
    """The recorded decision against the replay's: chosen labels, probabilities, largest log-prob change."""

    recorded_chosen: str
    replayed_chosen: str
    recorded_probabilities: dict[str, float]
    replayed_probabilities: dict[str, float]
    replayed_logprobs: dict[str, float]
    max_logprob_diff: float
    tolerance: float

    @property
    def changed(self) -> bool:
        return self.recorded_chosen != self.replayed_chosen

    def verdict(self, text_verdict: str) -> str:
        """The replay's verdict: ``decision-changed`` over anything the text did; drift beyond the tolerance."""
        if self.changed:
            return "decision-changed"
        if text_verdict == "identical" and self.max_logprob_diff > self.tolerance:
            return "logprob-drift"
        return text_verdict

    def to_dict(self) -> dict:
        return {
            "recorded_chosen": self.recorded_chosen,
            "replayed_chosen": self.replayed_chosen,
            "changed": self.changed,
            "recorded_probabilities": dict(self.recorded_probabilities),
            "replayed_probabilities": dict(self.replayed_probabilities),
            "replayed_label_logprobs": dict(self.replayed_logprobs),
            "max_logprob_diff": self.max_logprob_diff,
        }


def compare_decisions(recorded: DecisionRecord, replayed_logprobs: list[float], tolerance: float) -> DecisionComparison:
    """``replayed_logprobs``: each of ``recorded.labels``' summed log-probability in the replay."""
    labels = recorded.labels
    diffs = [abs(recorded.label_logprobs[label] - lp) for label, lp in zip(labels, replayed_logprobs)]
    return DecisionComparison(
        recorded_chosen=recorded.chosen,
        replayed_chosen=labels[ranked(labels, replayed_logprobs)[0]],
        recorded_probabilities=dict(recorded.probabilities),
        replayed_probabilities=dict(zip(labels, normalised(replayed_logprobs))),
        replayed_logprobs=dict(zip(labels, replayed_logprobs)),
        max_logprob_diff=max(diffs),
        tolerance=tolerance,
    )
