"""Run one seeded generation and capture what a record needs from it.

Per-step log-probabilities come from the logits ``generate`` itself produced (the KV-cache
path that made the decision), not from a second pass; beam search is the exception, since
its per-step logits belong to beams that may not survive, so there the chosen sequence is
scored by teacher forcing (:mod:`audit.scoring`).
"""

from __future__ import annotations

import copy
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
from transformers.generation.streamers import BaseStreamer

from .determinism import seed_everything
from .model import LoadedModel
from .scoring import Scored, logprobs_from_logits, teacher_forced


@dataclass
class GenerationOutput:
    output_ids: list[int]
    scored: Scored
    finish_reason: str
    started: float
    finished: float


class _TokenCallback(BaseStreamer):
    """Hands each new token id to ``on_token`` as ``generate`` picks it (the first ``put`` is the prompt).

    It only observes: the ids, logits and record come from the same ``generate`` call either way."""

    def __init__(self, on_token: Callable[[int], None]) -> None:
        self.on_token = on_token
        self.prompt_seen = False

    def put(self, value) -> None:
        if not self.prompt_seen:
            self.prompt_seen = True
            return
        for token in value.reshape(-1).tolist():
            self.on_token(int(token))

    def end(self) -> None:
        pass


def _eos_ids(config) -> set[int]:
    eos = config.eos_token_id
    if eos is None:
        return set()
    return set(eos) if isinstance(eos, (list, tuple)) else {int(eos)}


def _stopped_on_string(loaded: LoadedModel, output_ids: list[int], config) -> bool:
    """Whether a stop string, not the token budget, ended the output (both can end it at the last step)."""
    if len(output_ids) < (config.max_new_tokens or 0):
        return True
    text = loaded.tokenizer.decode(output_ids, skip_special_tokens=True)
    return any(text.endswith(stop) for stop in config.stop_strings)


@torch.no_grad()
def run_generation(
    loaded: LoadedModel, input_ids: list[int], config, seed: int, on_token: Callable[[int], None] | None = None
) -> GenerationOutput:
    """Generate from ``input_ids`` with ``config`` (already effective and validated); ``on_token``
    receives each output token id as it is generated (streaming), on this thread."""
    model = loaded.model
    ids = torch.tensor([input_ids], device=loaded.device)
    mask = torch.ones_like(ids)
    run_config = copy.deepcopy(config)
    run_config.output_logits = True
    run_config.return_dict_in_generate = True
    started = time.time()
    seed_everything(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        extra = {"streamer": _TokenCallback(on_token)} if on_token is not None else {}
        if config.stop_strings:
            extra["tokenizer"] = loaded.tokenizer  # transformers matches stop strings on the tokenizer's pieces
        out = model.generate(input_ids=ids, attention_mask=mask, generation_config=run_config, **extra)
    finished = time.time()
    output = out.sequences[0, len(input_ids) :]
    eos = _eos_ids(config)
    # Batch size 1 never pads, but trim defensively after the first end-of-sequence token.
    output_ids = output.tolist()
    for i, token in enumerate(output_ids):
        if token in eos:
            output_ids = output_ids[: i + 1]
            break
    if (config.num_beams or 1) > 1:
        scored = teacher_forced(model, input_ids, output_ids)
    else:
        logits = torch.stack([step[0] for step in out.logits[: len(output_ids)]])
        scored = logprobs_from_logits(logits, torch.tensor(output_ids, device=logits.device))
    finish = "eos" if output_ids and output_ids[-1] in eos else "length"
    if finish == "length" and config.stop_strings and _stopped_on_string(loaded, output_ids, config):
        finish = "stop"
    return GenerationOutput(
        output_ids=output_ids, scored=scored, finish_reason=finish, started=started, finished=finished
    )
