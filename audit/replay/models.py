"""The models records are replayed on, each loaded once per process and reused.

A record replays on its own model (see :mod:`.loading`) unless one is forced. Loading a
model costs seconds to minutes, so every model loaded for a replay is kept, and a model
already loaded for another purpose (the Auditor's, a worker's default) is reused whenever
its hashes and dtype are the record's. The Auditor and every scale-out worker use this one
class, so a record replays on a worker exactly as it does in-process.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import UserError
from ..model import LoadedModel, load_model
from ..record import GenerationRecord
from ..traffic.proxied import require_local_tokens
from .loading import record_model_spec, recorded_dtype, replay_device, reusable


class ReplayModels:
    """``for_record(record, model)``: the loaded model to replay ``record`` on.

    ``device``/``dtype`` force where and in what precision models load (default: as recorded);
    ``already_loaded`` returns a model the caller has loaded anyway, if any, without loading one.
    """

    def __init__(
        self,
        device: str | None = None,
        dtype: str | None = None,
        already_loaded: Callable[[], LoadedModel | None] = lambda: None,
    ) -> None:
        self.device = device
        self.dtype = dtype
        self._already_loaded = already_loaded
        self._loaded: dict[tuple[str, str | None, str], LoadedModel] = {}

    def for_record(self, record: GenerationRecord, model: str | LoadedModel | None = None) -> LoadedModel:
        if isinstance(model, LoadedModel):
            return model
        if model is None:
            require_local_tokens(record, "a local replay")
        dtype = self.dtype or recorded_dtype(record)
        device = replay_device(record, self.device)
        if model is None:
            for candidate in (self._already_loaded(), *self._loaded.values()):
                if reusable(record, candidate, dtype):
                    return candidate
        spec = model or record_model_spec(record)
        key = (spec, device, dtype)
        if key not in self._loaded:
            try:
                self._loaded[key] = load_model(spec, device=device, dtype=dtype)
            except UserError as exc:
                if model is not None:
                    raise
                raise UserError(
                    f"cannot load the model of record {record.id} from {spec} ({exc}); pass --model with a copy of it"
                ) from None
        return self._loaded[key]
