"""Generate with a decision, the same way for recording and for replay.

``free``: the text is generated exactly as without a decision (same seed, same code path), then the
labels are scored after the prompt; the two are independent, so a text that states another label (or
none) is possible and is recorded as a disagreement. ``constrained``: the labels are scored first, the
answer is made to start with the most probable label's tokens (their log-probabilities and top
alternatives teacher-forced), and generation continues from there with the remaining token budget
and the record's seed, so the text states the decision by construction.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence

from ..generation import GenerationOutput, run_generation
from ..model import LoadedModel
from ..scoring import Scored, teacher_forced
from .outcome import ranked
from .scorer import LabelScorer


def score_prompt(model, input_ids: Sequence[int], label_ids: Sequence[Sequence[int]]) -> list[float]:
    """Each label's summed log-probability right after ``input_ids`` (the recorded numbers); one prompt, no padding."""
    return [float(x) for x in LabelScorer(model, list(input_ids), label_ids).unperturbed.tolist()]


def generate_with_decision(
    loaded: LoadedModel,
    input_ids: Sequence[int],
    config,
    seed: int,
    labels: Sequence[str],
    label_ids: Sequence[Sequence[int]],
    mode: str,
    on_token: Callable[[int], None] | None = None,
) -> tuple[GenerationOutput, list[float]]:
    """The generation and each label's log-probability; ``config`` is the effective, validated config.
    ``on_token`` receives each output token id as it is produced (a constrained answer's label tokens first)."""
    if mode == "free":
        out = run_generation(loaded, list(input_ids), config, seed, on_token)
        return out, score_prompt(loaded.model, input_ids, label_ids)
    started = time.time()
    logprobs = score_prompt(loaded.model, input_ids, label_ids)
    forced = list(label_ids[ranked(labels, logprobs)[0]])
    head = teacher_forced(loaded.model, list(input_ids), forced)
    if on_token is not None:
        for token in forced:
            on_token(token)
    remaining = int(config.max_new_tokens) - len(forced)
    if remaining <= 0:
        return GenerationOutput(forced, head, "length", started, time.time()), logprobs
    rest_config = copy.deepcopy(config)
    rest_config.max_new_tokens = remaining
    if getattr(rest_config, "min_new_tokens", None):
        rest_config.min_new_tokens = max(0, int(rest_config.min_new_tokens) - len(forced))
    rest = run_generation(loaded, list(input_ids) + forced, rest_config, seed, on_token)
    scored = Scored(
        token_logprobs=head.token_logprobs + rest.scored.token_logprobs,
        top_ids=head.top_ids + rest.scored.top_ids,
        top_logprobs=head.top_logprobs + rest.scored.top_logprobs,
    )
    return GenerationOutput(forced + rest.output_ids, scored, rest.finish_reason, started, rest.finished), logprobs
