"""Generation parameters: validated up front, then merged into the model's own defaults.

What gets recorded is the *effective* configuration (the model's ``generation_config``
with the user's values on top), because that, not what the user typed, decides the output.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .errors import UserError

DEFAULT_MAX_NEW_TOKENS = 64
# Keys of GenerationConfig.to_dict() that describe the library, not the generation.
_NOT_PARAMETERS = {"transformers_version", "_from_model_config", "_commit_hash", "_original_object_hash"}


def _param(help: str | None = None, *, flag: str | None = None, cli: bool = True, served: str | None = None):
    """One generation parameter's declaration: its CLI option (``--name``, or ``flag`` for an on/off pair, its
    help; ``cli=False``: none) and ``served``, the OpenAI request's attribute (or method) that gives it."""
    return field(default=None, metadata={"help": help, "flag": flag, "cli": cli, "served": served})


@dataclass
class GenerationParams:
    """What a caller may set; ``None`` keeps the model's default.

    The one declaration of the generation parameters: ``Auditor.generate``'s keywords, the CLI's
    options (:func:`audit.cli.options.generation_options`) and the served request's mapping
    (:func:`audit.serve.context.parameter_inputs`) are all read from these fields.
    """

    max_new_tokens: int | None = _param("[64]", served="token_budget")
    do_sample: bool | None = _param("Sample or decode greedily [the model's default].", flag="--do-sample/--greedy")
    temperature: float | None = _param(served="temperature")
    top_p: float | None = _param(served="top_p")
    top_k: int | None = _param()
    repetition_penalty: float | None = _param()
    num_beams: int | None = _param()
    # Generation stops once the output's text ends with one of these (OpenAI's ``stop``); recorded in
    # the effective config, so replay stops at the same place.
    stop_strings: list[str] | None = _param(cli=False, served="stops")

    @classmethod
    def of(cls, values: dict[str, Any]) -> GenerationParams:
        """The parameters named in ``values`` (``None``: the model's default); an unknown name is refused
        (their values are checked by :meth:`validate`)."""
        unknown = sorted(set(values) - set(PARAM_NAMES))
        if unknown:
            raise UserError(
                f"unknown generation parameter(s) {', '.join(unknown)}: use {', '.join(sorted(PARAM_NAMES))}"
            )
        return cls(**values)

    def validate(self) -> None:
        if self.max_new_tokens is not None:
            check_token_budget(self.max_new_tokens)
        if self.temperature is not None and self.temperature < 0:
            raise UserError(
                f"temperature must be >= 0 (got {self.temperature}): pass --temperature 0 for greedy or a positive value"
            )
        if self.top_p is not None and not (0 < self.top_p <= 1):
            raise UserError(f"top_p must be in (0, 1] (got {self.top_p}): pass --top-p 1.0 to disable nucleus sampling")
        if self.top_k is not None and self.top_k < 0:
            raise UserError(f"top_k must be >= 0 (got {self.top_k}): pass --top-k 0 to disable it")
        if self.repetition_penalty is not None and self.repetition_penalty <= 0:
            raise UserError(f"repetition_penalty must be > 0 (got {self.repetition_penalty}): 1.0 means no penalty")
        if self.num_beams is not None and self.num_beams < 1:
            raise UserError(f"num_beams must be at least 1 (got {self.num_beams})")
        if self.stop_strings is not None and (
            not isinstance(self.stop_strings, list) or not all(isinstance(s, str) and s for s in self.stop_strings)
        ):
            raise UserError(f"stop_strings must be a list of non-empty strings (got {self.stop_strings!r})")

    def given(self) -> dict[str, Any]:
        values = {k: v for k, v in asdict(self).items() if v is not None}
        if values.get("temperature") == 0:
            # temperature 0 is the conventional spelling of greedy decoding
            values.pop("temperature")
            values["do_sample"] = False
        return values


PARAM_NAMES = tuple(f.name for f in fields(GenerationParams))


def check_token_budget(
    max_new_tokens: int,
    *,
    prompt_tokens: int | None = None,
    context: int | None = None,
    label: tuple[str, int] | None = None,
) -> None:
    """Every rule on ``max_new_tokens``, in one place: at least 1; with the prompt, within the model's context;
    with a constrained decision (``label``: the longest label and its token count), long enough to hold it."""
    if max_new_tokens < 1:
        raise UserError(f"max_new_tokens must be at least 1 (got {max_new_tokens}): pass --max-new-tokens 1 or more")
    if context is not None and prompt_tokens is not None:
        if prompt_tokens >= context:
            raise UserError(
                f"the prompt is {prompt_tokens} tokens, longer than the model's context of {context}: shorten it"
            )
        if prompt_tokens + max_new_tokens > context:
            raise UserError(
                f"prompt ({prompt_tokens} tokens) + max_new_tokens ({max_new_tokens}) exceeds the context of {context}: "
                f"lower --max-new-tokens to {context - prompt_tokens} or less"
            )
    if label is not None and max_new_tokens < label[1]:
        raise UserError(
            f"max_new_tokens ({max_new_tokens}) is shorter than label {label[0]!r} ({label[1]} "
            "tokens), which a constrained answer starts with: raise --max-new-tokens"
        )


def effective_config(model_config, params: GenerationParams):
    """The model's generation config with ``params`` applied, validated by transformers too."""
    params.validate()
    config = copy.deepcopy(model_config)
    given = params.given()
    if "temperature" in given or "top_p" in given or "top_k" in given:
        given.setdefault("do_sample", True)
    config.update(**given)
    if config.max_new_tokens is None:
        config.max_new_tokens = DEFAULT_MAX_NEW_TOKENS
    if config.pad_token_id is None:
        eos = config.eos_token_id
        config.pad_token_id = eos[0] if isinstance(eos, list) else eos
    # transformers fills unset fields with library defaults inside generate(); fill them
    # here so the record shows every value that actually applied.
    for key, value in config._get_default_generation_params().items():
        if key != "max_length" and getattr(config, key, None) is None and value is not None:
            setattr(config, key, value)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            config.validate(strict=True)
    except ValueError as exc:
        raise UserError(f"invalid generation parameters: {str(exc).splitlines()[0]}") from None
    return config


def config_to_record(config) -> dict[str, Any]:
    """Every generation parameter as plain JSON values (library bookkeeping removed)."""
    data = config.to_dict()
    return {k: v for k, v in sorted(data.items()) if k not in _NOT_PARAMETERS}
