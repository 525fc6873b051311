"""Which model, on which device and in which dtype, a record is replayed with.

By default a record is replayed on its own model (the folder or hub id it names, or the
embedded default model) in the dtype and on the device it was recorded with: any change
there is a change of numerics, which the replay should only show when asked to.
A CUDA recording replayed on a machine without CUDA falls back to the CPU (the
environment diff then shows it).
"""

from __future__ import annotations

from ..model import DEFAULT_MODEL_NAME, LoadedModel
from ..record import GenerationRecord
from .model_check import same_model


def record_model_spec(record: GenerationRecord) -> str:
    """What ``load_model`` needs to load the record's own model again."""
    return DEFAULT_MODEL_NAME if record.model.name == DEFAULT_MODEL_NAME else record.model.source


def recorded_dtype(record: GenerationRecord) -> str:
    """The recorded dtype; a proxied record does not know its upstream's, and replays in float32 unless told."""
    dtype = str(record.generation_config.get("dtype") or record.environment.dtype)
    return "float32" if dtype == "unknown" else dtype


def replay_device(record: GenerationRecord, device: str | None) -> str | None:
    if device is not None:
        return device
    recorded = record.environment.device
    if recorded == "upstream":  # a proxied record ran elsewhere: the best device here
        return None
    if recorded.startswith("cuda"):
        import torch  # only here: choosing a device must not make the CLI's start pay for torch

        if not torch.cuda.is_available():
            return "cpu"
    return recorded


def reusable(record: GenerationRecord, loaded: LoadedModel | None, dtype: str) -> bool:
    """Whether an already loaded model can replay ``record`` without loading another."""
    return (
        loaded is not None
        and same_model(record.model, loaded.identity)
        and str(loaded.dtype).replace("torch.", "") == dtype
    )
