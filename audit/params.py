"""Generation parameters: validated up front, then merged into the model's own defaults.

What gets recorded is the *effective* configuration (the model's ``generation_config``
with the user's values on top), because that, not what the user typed, decides the output.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import asdict, dataclass
from typing import Any

from .errors import UserError

DEFAULT_MAX_NEW_TOKENS = 64
# Keys of GenerationConfig.to_dict() that describe the library, not the generation.
_NOT_PARAMETERS = {"transformers_version", "_from_model_config", "_commit_hash", "_original_object_hash"}


@dataclass
class GenerationParams:
    """What a caller may set; ``None`` keeps the model's default."""

    max_new_tokens: int | None = None
    do_sample: bool | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    repetition_penalty: float | None = None
    num_beams: int | None = None
    # Generation stops once the output's text ends with one of these (OpenAI's ``stop``); recorded in
    # the effective config, so replay stops at the same place.
    stop_strings: list[str] | None = None

    def validate(self) -> None:
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise UserError(
                f"max_new_tokens must be at least 1 (got {self.max_new_tokens}): pass --max-new-tokens 1 or more"
            )
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
