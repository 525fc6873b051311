"""Per-token log-probabilities and top-k alternatives in a compact, lossless, hashed form (records version 3).

As JSON, each alternative of each generated token cost about 55 bytes (``{"logprob":-1.234...,"token":"...",
"token_id":1234}``), written twice (the row and its event's payload): about 1 KB per output token with
the top 5. From records version 3 the two columns hold a packed object instead, itself canonical JSON,
so it is part of the hashed payload exactly as stored (one encoding: what ``verify`` hashes is what every
reader decodes, with :func:`unpack`, through :meth:`audit.record.GenerationRecord.from_dict`)::

    {"data": "<base64>", "layout": "llm-audit-logprobs/1" | "llm-audit-top/1", "steps": N}

``data`` is the standard base64 (with padding) of zlib (RFC 1950) of these little-endian fields:

=================  ===============================================================================
``llm-audit-logprobs/1`` (``token_logprobs``)
---------------------------------------------------------------------------------------------------
flags, u8          bit 1: values are float64 (else float32)
N, u32             the number of generated tokens
N x float          each token's log-probability
``llm-audit-top/1`` (``top_logprobs``)
---------------------------------------------------------------------------------------------------
flags, u8          bit 0: ids are int64 (else int32); bit 1: log-probabilities are float64 (else float32)
N, u32             the number of generated tokens
N x u16            how many alternatives each token has (K in all)
K x int            each alternative's token id (-1: sealed; -2, -3, ...: stand-ins, see ``audit.traffic.answer``)
K x float          each alternative's log-probability
K x u32            the UTF-8 length in bytes of each alternative's text
the texts          UTF-8 (lone surrogates kept, ``surrogatepass``), one after the other
=================  ===============================================================================

Nothing is rounded: float32 is used only when every value survives the round trip exactly (a model
computing in float32 gives such values), else float64; ids that do not fit int32 use int64. Older
records keep their JSON lists, read and verified as they were written.

From records version 4 the token arrays are one blob instead (:mod:`audit.token_blob`).
"""

from __future__ import annotations

import base64
import struct
import zlib
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .record import TopAlternative

LOGPROBS = "llm-audit-logprobs/1"
TOP = "llm-audit-top/1"
_IDS64, _FLOAT64 = 1, 2
_INT32 = (-(2**31), 2**31 - 1)


def _floats(values: list[float]) -> tuple[int, bytes]:
    wide = np.asarray(values, dtype="<f8")
    narrow = wide.astype("<f4")
    with np.errstate(invalid="ignore"):
        exact = bool(np.array_equal(narrow.astype("<f8"), wide, equal_nan=True))
    return (0, narrow.tobytes()) if exact else (_FLOAT64, wide.tobytes())


def _wrap(layout: str, steps: int, raw: bytes) -> dict[str, Any]:
    return {"data": base64.b64encode(zlib.compress(raw, 9)).decode("ascii"), "layout": layout, "steps": steps}


def _logprobs_raw(values: list[float]) -> bytes:
    flags, data = _floats(values)
    return struct.pack("<BI", flags, len(values)) + data


def pack_logprobs(values: list[float]) -> dict[str, Any]:
    return _wrap(LOGPROBS, len(values), _logprobs_raw(values))


def pack_top(steps: list[list[TopAlternative]]) -> dict[str, Any]:
    return _wrap(TOP, len(steps), _top_raw(steps))


def _top_raw(steps: list[list[TopAlternative]]) -> bytes:
    counts = [len(step) for step in steps]
    alternatives = [alt for step in steps for alt in step]
    ids = [int(alt.token_id) for alt in alternatives]
    wide_ids = any(not _INT32[0] <= i <= _INT32[1] for i in ids)
    float_flag, logprobs = _floats([alt.logprob for alt in alternatives])
    texts = [alt.token.encode("utf-8", "surrogatepass") for alt in alternatives]
    raw = b"".join(
        (
            struct.pack("<BI", (_IDS64 if wide_ids else 0) | float_flag, len(steps)),
            np.asarray(counts, dtype="<u2").tobytes(),
            np.asarray(ids, dtype="<i8" if wide_ids else "<i4").tobytes(),
            logprobs,
            np.asarray([len(t) for t in texts], dtype="<u4").tobytes(),
            *texts,
        )
    )
    return raw


def is_packed(value: Any) -> bool:
    return isinstance(value, dict) and value.get("layout") in (LOGPROBS, TOP)


class _Reader:
    def __init__(self, raw: bytes, at: int = 0) -> None:
        self.raw = raw
        self.at = at

    def take(self, dtype: str, count: int) -> np.ndarray:
        size = np.dtype(dtype).itemsize * count
        if self.at + size > len(self.raw):
            raise ValueError("packed tokens are shorter than their layout says")
        out = np.frombuffer(self.raw, dtype=dtype, count=count, offset=self.at)
        self.at += size
        return out

    def head(self) -> tuple[int, int]:
        if self.at + 5 > len(self.raw):
            raise ValueError("packed tokens are shorter than their layout says")
        flags, steps = struct.unpack_from("<BI", self.raw, self.at)
        self.at += 5
        return flags, steps

    def logprobs(self) -> list[float]:
        flags, steps = self.head()
        return [float(v) for v in self.take("<f8" if flags & _FLOAT64 else "<f4", steps)]

    def top(self) -> list[list[tuple[int, str, float]]]:
        flags, steps = self.head()
        counts = self.take("<u2", steps)
        total = int(counts.sum())
        ids = self.take("<i8" if flags & _IDS64 else "<i4", total).tolist()
        logprobs = [float(v) for v in self.take("<f8" if flags & _FLOAT64 else "<f4", total)]
        lengths = self.take("<u4", total).tolist()
        texts, at = [], self.at
        for length in lengths:
            if at + length > len(self.raw):
                raise ValueError("packed tokens are shorter than their layout says")
            texts.append(self.raw[at : at + length].decode("utf-8", "surrogatepass"))
            at += length
        self.at = at
        flat = list(zip(ids, texts, logprobs))
        tops, start = [], 0
        for count in counts.tolist():
            tops.append(flat[start : start + count])
            start += count
        return tops


def unpack(packed: dict[str, Any]) -> list[float] | list[list[tuple[int, str, float]]]:
    """The one decoder of records version 3: token log-probabilities (``llm-audit-logprobs/1``) as floats, or the
    alternatives (``llm-audit-top/1``) as ``(token_id, token, logprob)`` per step. Raises ValueError on anything else."""
    reader = _Reader(zlib.decompress(base64.b64decode(packed["data"], validate=True)))
    layout = packed.get("layout")
    if layout not in (LOGPROBS, TOP):
        raise ValueError(f"unknown token layout {layout!r}")
    tops: Any = reader.logprobs() if layout == LOGPROBS else reader.top()
    if reader.at != len(reader.raw) or int(packed.get("steps", -1)) != len(tops):
        raise ValueError("packed tokens do not match their layout")
    return tops
