"""Content-addressed array blobs: attributions and attention maps, stored compactly.

An array is stored as a zlib-compressed ``.npy`` payload (dtype and shape travel inside
it), keyed by the SHA-256 of exactly the bytes stored. Identical arrays are stored once,
and any changed byte is detectable by rehashing, which the tamper-evident log relies on.
"""

from __future__ import annotations

import hashlib
import io
import os
import zlib
from collections.abc import Iterator

import numpy as np
import sqlite_utils

from ..errors import UserError
from .append_only import append_only
from .schema import register

TABLE = "blobs"

register(
    "blobs",
    1,
    "content-addressed array blobs",
    f"""CREATE TABLE {TABLE} (
        sha256 TEXT PRIMARY KEY,
        dtype TEXT NOT NULL,
        shape TEXT NOT NULL,
        raw_bytes INTEGER NOT NULL,
        data BLOB NOT NULL
    )""",
)
register("blobs", 2, "append-only guard on blobs", *append_only(TABLE))


def encode_array(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return zlib.compress(buffer.getvalue(), 6)


ENV_MAX_BLOB_BYTES = "LLM_AUDIT_MAX_BLOB_BYTES"
DEFAULT_MAX_BLOB_BYTES = 1 << 30  # 1 GiB expanded: per-head attention of a long prompt fits, a zip bomb does not


def max_blob_bytes() -> int:
    value = os.environ.get(ENV_MAX_BLOB_BYTES, "")
    return int(value) if value.strip().isdigit() else DEFAULT_MAX_BLOB_BYTES


class BlobTooLarge(ValueError):
    """A blob that expands beyond the limit (or is not zlib data); nothing was expanded past the limit."""


def expanded_size(data: bytes, limit: int) -> int:
    """The decompressed size of ``data``, counted in chunks and abandoned past ``limit`` (never expands it whole)."""
    inflater = zlib.decompressobj()
    total, pending, chunk = 0, data, 1 << 20
    try:
        while pending:
            total += len(inflater.decompress(pending, chunk))
            if total > limit:
                raise BlobTooLarge(f"expands beyond {limit:,} bytes")
            pending = inflater.unconsumed_tail
        total += len(inflater.flush())
    except zlib.error as exc:
        raise BlobTooLarge(f"is not zlib data ({exc})") from None
    if total > limit:
        raise BlobTooLarge(f"expands beyond {limit:,} bytes")
    return total


def decode_array(data: bytes, limit: int | None = None) -> np.ndarray:
    """The array in ``data``, refused (:class:`BlobTooLarge`) if it would expand beyond ``limit`` bytes."""
    limit = max_blob_bytes() if limit is None else limit
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise BlobTooLarge(f"is not zlib data ({exc})") from None
    if len(raw) > limit or inflater.unconsumed_tail:
        raise BlobTooLarge(f"expands beyond {limit:,} bytes (set ${ENV_MAX_BLOB_BYTES} to allow more)")
    return np.load(io.BytesIO(raw), allow_pickle=False)


class BlobRepository:
    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    def put(self, array: np.ndarray) -> str:
        """Store ``array`` (if new) and return its key."""
        data = encode_array(array)
        digest = hashlib.sha256(data).hexdigest()
        self.db.execute(
            f"INSERT OR IGNORE INTO {TABLE} (sha256, dtype, shape, raw_bytes, data) VALUES (?, ?, ?, ?, ?)",
            [digest, str(array.dtype), ",".join(map(str, array.shape)), int(array.nbytes), data],
        )
        return digest

    def get(self, digest: str) -> np.ndarray:
        row = self.db.execute(f"SELECT data FROM {TABLE} WHERE sha256 = ?", [digest]).fetchone()
        if row is None:
            raise UserError(f"blob {digest[:16]}… is missing from the database (deleted?): run `llm-audit verify`")
        try:
            return decode_array(row[0])
        except BlobTooLarge as exc:
            raise UserError(
                f"blob {digest[:16]}… {exc}: the database holds an oversized or damaged array; run `llm-audit verify`"
            ) from None

    def stored_bytes(self, digest: str) -> bytes | None:
        """The compressed bytes exactly as stored (what the key is the hash of)."""
        if not self.db[TABLE].exists():
            return None
        row = self.db.execute(f"SELECT data FROM {TABLE} WHERE sha256 = ?", [digest]).fetchone()
        return bytes(row[0]) if row else None

    def iter_stored(self) -> Iterator[tuple[str, bytes]]:
        """(key, stored bytes) of every blob, for re-hashing during verification."""
        if not self.db[TABLE].exists():
            return iter(())
        return ((row[0], row[1]) for row in self.db.execute(f"SELECT sha256, data FROM {TABLE}"))

    def stored_size(self, digest: str) -> int:
        row = self.db.execute(f"SELECT length(data) FROM {TABLE} WHERE sha256 = ?", [digest]).fetchone()
        return int(row[0]) if row else 0
