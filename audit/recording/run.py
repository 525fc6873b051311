"""The model step of a recording: the prompt built and measured, then one seeded generation.

With a decision, the labels' tokens are found at the start of this prompt's answer and the
generation runs through :func:`audit.decision.generate.generate_with_decision`, which scores
them; without one, through :func:`audit.generation.run_generation`. Either way this returns
what was generated and the decision it states; it never builds or stores the record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..decision.spec import DecisionSpec
from ..model import LoadedModel
from ..params import check_token_budget, effective_config
from ..prompts import PromptInput, build_prompt
from .request import GenerationRequest

if TYPE_CHECKING:
    from ..generation import GenerationOutput
    from ..record import DecisionRecord


@dataclass
class Generated:
    """One generation as run here: the model's output, its text and the decision it states (if asked for)."""

    out: GenerationOutput
    output_text: str
    decision: DecisionRecord | None


def prepare(loaded: LoadedModel, request: GenerationRequest) -> tuple[PromptInput, Any]:
    """The tokenised prompt and the effective generation config, refused if they exceed the context."""
    config = effective_config(loaded.model.generation_config, request.params)
    prepared = build_prompt(loaded.tokenizer, **request.prompt_inputs())
    context = loaded.identity.context_length
    check_token_budget(config.max_new_tokens, prompt_tokens=len(prepared.input_ids), context=context)
    return prepared, config


def decision_labels(
    loaded: LoadedModel, prepared: PromptInput, spec: DecisionSpec, max_new_tokens: int
) -> list[list[int]]:
    """Each label's token ids at the start of this prompt's answer, refused where labels collide."""
    from ..decision.labels import check_label_tokens, label_token_ids

    tokenizer = loaded.tokenizer
    ids = [
        label_token_ids(tokenizer, prepared.text, prepared.input_ids, prepared.add_special_tokens, label)
        for label in spec.labels
    ]
    check_label_tokens(tokenizer, spec.labels, ids)
    longest = max(range(len(ids)), key=lambda i: len(ids[i]))
    if spec.mode == "constrained":
        check_token_budget(max_new_tokens, label=(spec.labels[longest], len(ids[longest])))
    return ids


def generate(
    loaded: LoadedModel,
    prepared: PromptInput,
    config: Any,
    request: GenerationRequest,
    on_token: Callable[[int], None] | None = None,
) -> Generated:
    """Generate once with the request's seed, scoring its decision if it has one. ``on_token``: each output
    token id as it is generated (the output is the same with or without it)."""
    from ..decision.generate import generate_with_decision
    from ..decision.outcome import build_decision
    from ..generation import run_generation

    spec = request.decision
    if spec is None:
        out = run_generation(loaded, prepared.input_ids, config, request.seed, on_token)
        return Generated(out, loaded.tokenizer.decode(out.output_ids, skip_special_tokens=True), None)
    label_ids = decision_labels(loaded, prepared, spec, int(config.max_new_tokens))
    out, label_logprobs = generate_with_decision(
        loaded, prepared.input_ids, config, request.seed, spec.labels, label_ids, spec.mode, on_token
    )
    output_text = loaded.tokenizer.decode(out.output_ids, skip_special_tokens=True)
    decision = build_decision(
        spec.labels,
        spec.favourable,
        spec.mode,
        label_ids,
        label_logprobs,
        output_text,
        spec.reasons,
        spec.protected,
        spec.min_label_mass,
        spec.frame,
        [[loaded.tokenizer.decode([t]) for t in ids] for ids in label_ids],
    )
    return Generated(out, output_text, decision)
