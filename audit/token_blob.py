"""A record's token arrays as one blob (records version 4): output ids, log-probabilities, top-k alternatives.

Stored once in :mod:`audit.store.blobs` (zlib, keyed by the SHA-256 of the stored bytes) and named by the
row's and the payload's ``output_ids``, ``token_logprobs`` and ``top_logprobs`` (``{"blob": "<sha256>"}``,
:mod:`audit.store.record_refs`). The blob's bytes expand to ``b"llm-audit-tokens/1\\n"`` and this body,
little-endian, each numeric array **byte-shuffled** (its values' first bytes, then their second bytes, ...:
the zero high bytes of small ids and the similar exponents of log-probabilities then sit together, which
zlib compresses; about 12% fewer bytes than the arrays as they are, measured on top-5 answers):

==================  =============================================================================
flags, u8           bit 0: ids are int64 (else int32); bit 1: floats are float64 (else float32);
                    bit 2: text lengths are u32 (else u8)
N, M, S, 3 x u32    the number of generated tokens' ids, of their log-probabilities, of steps with alternatives
N ids               the generated tokens' ids
M floats            their log-probabilities
S x u16             how many alternatives each step has (K in all)
K ids               each alternative's token id (-1: sealed; -2, -3, ...: stand-ins, see ``audit.traffic.answer``)
K floats            each alternative's log-probability
K lengths           the UTF-8 length in bytes of each alternative's text
the texts           UTF-8 (lone surrogates kept, ``surrogatepass``), one after the other
==================  =============================================================================

Nothing is rounded: float32 only when every value survives the round trip exactly (a model computing in
float32 gives such values), int32 ids and u8 lengths only when every value fits. :func:`pack` writes it,
:func:`unpack` is its one decoder (through :class:`audit.store.record_refs.Resolver`, for every reader).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .record import TopAlternative

LAYOUT = "llm-audit-tokens/1"
_IDS64, _FLOAT64, _LENGTHS32 = 1, 2, 4
_INT32 = (-(2**31), 2**31 - 1)
_HEAD = struct.Struct("<BIII")


def _shuffled(values: np.ndarray) -> bytes:
    width = values.dtype.itemsize
    return np.frombuffer(values.tobytes(), dtype=np.uint8).reshape(-1, width).T.tobytes()


def pack(output_ids: list[int], logprobs: list[float], steps: list[list[TopAlternative]]) -> bytes:
    """The body of a record's tokens blob (the blob store adds the layout line and compresses it)."""
    alternatives = [alt for step in steps for alt in step]
    ids = [int(i) for i in output_ids] + [int(alt.token_id) for alt in alternatives]
    floats = [float(v) for v in logprobs] + [float(alt.logprob) for alt in alternatives]
    texts = [alt.token.encode("utf-8", "surrogatepass") for alt in alternatives]
    lengths = [len(text) for text in texts]
    wide_ids = any(not _INT32[0] <= i <= _INT32[1] for i in ids)
    wide = np.asarray(floats, dtype="<f8")
    with np.errstate(invalid="ignore", over="ignore"):
        narrow = wide.astype("<f4")
        exact = bool(np.array_equal(narrow.astype("<f8"), wide, equal_nan=True))
    long_texts = any(n > 255 for n in lengths)
    id_array = np.asarray(ids, dtype="<i8" if wide_ids else "<i4")
    float_array = narrow if exact else wide
    n, m, k = len(output_ids), len(logprobs), len(alternatives)
    flags = (_IDS64 if wide_ids else 0) | (0 if exact else _FLOAT64) | (_LENGTHS32 if long_texts else 0)
    return b"".join(
        (
            _HEAD.pack(flags, n, m, len(steps)),
            _shuffled(id_array[:n]),
            _shuffled(float_array[:m]),
            _shuffled(np.asarray([len(step) for step in steps], dtype="<u2")),
            _shuffled(id_array[n : n + k]),
            _shuffled(float_array[m : m + k]),
            _shuffled(np.asarray(lengths, dtype="<u4" if long_texts else "<u1")),
            *texts,
        )
    )


class _Reader:
    def __init__(self, body: bytes) -> None:
        self.body = body
        self.at = 0

    def take(self, dtype: str, count: int) -> np.ndarray:
        width = np.dtype(dtype).itemsize
        size = width * count
        if count < 0 or self.at + size > len(self.body):
            raise ValueError("is shorter than its layout says")
        planes = np.frombuffer(self.body, dtype=np.uint8, count=size, offset=self.at).reshape(width, count)
        self.at += size
        return np.frombuffer(planes.T.tobytes(), dtype=dtype)


def steps_of(body: bytes) -> int:
    """The number of generated tokens a body holds (from its head alone): the blob's ``shape``."""
    if len(body) < _HEAD.size:
        raise ValueError("is shorter than its layout says")
    return _HEAD.unpack_from(body, 0)[1]


def unpack(body: bytes) -> tuple[list[int], list[float], list[list[tuple[int, str, float]]]]:
    """The one decoder: (output ids, their log-probabilities, the alternatives of each step as ``(token_id, token,
    logprob)``). Raises ValueError on anything that is not exactly this layout."""
    if len(body) < _HEAD.size:
        raise ValueError("is shorter than its layout says")
    flags, n, m, s = _HEAD.unpack_from(body, 0)
    if flags & ~(_IDS64 | _FLOAT64 | _LENGTHS32):
        raise ValueError(f"has unknown flags {flags:#x}")
    id_type = "<i8" if flags & _IDS64 else "<i4"
    float_type = "<f8" if flags & _FLOAT64 else "<f4"
    reader = _Reader(body)
    reader.at = _HEAD.size
    output_ids = reader.take(id_type, n).tolist()
    logprobs = [float(v) for v in reader.take(float_type, m)]
    counts = reader.take("<u2", s).tolist()
    k = sum(counts)
    ids = reader.take(id_type, k).tolist()
    floats = [float(v) for v in reader.take(float_type, k)]
    lengths = reader.take("<u4" if flags & _LENGTHS32 else "<u1", k).tolist()
    texts, at = [], reader.at
    for length in lengths:
        if at + length > len(body):
            raise ValueError("is shorter than its layout says")
        texts.append(body[at : at + length].decode("utf-8", "surrogatepass"))
        at += length
    if at != len(body):
        raise ValueError("is longer than its layout says")
    flat = list(zip(ids, texts, floats))
    steps, start = [], 0
    for count in counts:
        steps.append(flat[start : start + count])
        start += count
    return output_ids, logprobs, steps
