"""``LoadedModel``: what every component receives, importable without importing torch.

Kept apart from the loader so that ``isinstance`` checks and type hints (the CLI, the
Auditor) do not pay for torch until a model is actually loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..record import ModelIdentity

if TYPE_CHECKING:
    import torch


@dataclass
class LoadedModel:
    """A model ready to generate, with its identity computed once at load time."""

    model: torch.nn.Module
    tokenizer: object
    identity: ModelIdentity
    folder: Path
    device: torch.device
    dtype: torch.dtype

    @property
    def attn_implementation(self) -> str:
        return str(getattr(self.model.config, "_attn_implementation", None))
