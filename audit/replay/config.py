"""Rebuild the generation configuration a record was produced with.

The record stores the *effective* configuration (model defaults with the user's values
on top), so replay must use exactly that and never the replaying model's own defaults,
which may have changed. The recorder adds a few keys that describe the run rather than
the decoding (batch size, attention kernel, dtype); they are not GenerationConfig fields.
"""

from __future__ import annotations

from typing import Any

from ..errors import UserError
from ..params import config_to_record

RUN_KEYS = ("batch_size", "attn_implementation", "dtype")


def decoding_parameters(recorded: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in recorded.items() if k not in RUN_KEYS}


def rebuild_generation_config(recorded: dict[str, Any]):
    """A ``transformers.GenerationConfig`` equal, field by field, to the recorded one."""
    from transformers import GenerationConfig

    parameters = decoding_parameters(recorded)
    config = GenerationConfig.from_dict(parameters)
    lost = {k for k, v in parameters.items() if config_to_record(config).get(k, v) != v}
    if lost:
        raise UserError(
            f"this transformers version cannot represent the recorded generation parameter(s) {', '.join(sorted(lost))}: "
            "replay with the transformers version in the record's environment"
        )
    return config
