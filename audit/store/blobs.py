"""Content-addressed blobs: attributions and attention maps, a record's token arrays, shared facts.

A blob is stored zlib-compressed and keyed by the SHA-256 of exactly the bytes stored. Identical
blobs are stored once, and any changed byte is detectable by rehashing, which the tamper-evident
log relies on. Two kinds of content:

* arrays: a ``.npy`` payload (dtype and shape travel inside it);
* laid-out bytes (records version 4): a first line naming the layout, then its fields. ``dtype``
  is the layout's name: ``llm-audit-tokens/1`` (:mod:`audit.token_pack`: a record's per-token
  log-probabilities and top-k alternatives; ``shape`` is the number of tokens) or
  ``llm-audit-json/1`` (a JSON value in RFC 8785 canonical form, e.g. the recording host's
  environment, the same for every record a process writes; ``shape`` is empty).
"""

from __future__ import annotations

import hashlib
import io
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

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
    return np.load(io.BytesIO(expand(data, max_blob_bytes() if limit is None else limit)), allow_pickle=False)


JSON_LAYOUT = "llm-audit-json/1"
LAYOUT_PREFIX = b"llm-audit-"


@dataclass(frozen=True)
class Blob:
    """One blob as it will be stored: computed before the transaction that stores it, so the payload can name it."""

    sha256: str
    dtype: str
    shape: str
    raw_bytes: int
    data: bytes


def laid_out(layout: str, body: bytes, shape: str = "") -> Blob:
    """The blob of ``body`` in ``layout`` (its first line names the layout)."""
    raw = layout.encode("ascii") + b"\n" + body
    data = zlib.compress(raw, 6)
    return Blob(hashlib.sha256(data).hexdigest(), layout, shape, len(raw), data)


def layout_body(data: bytes, layout: str, limit: int | None = None) -> bytes:
    """The body of a laid-out blob's stored bytes, after its layout line; ValueError when it is not ``layout``."""
    raw = expand(data, max_blob_bytes() if limit is None else limit)
    head = layout.encode("ascii") + b"\n"
    if not raw.startswith(head):
        raise ValueError(f"is not a {layout} blob")
    return raw[len(head) :]


def expand(data: bytes, limit: int) -> bytes:
    """All of ``data`` expanded, refused (:class:`BlobTooLarge`) past ``limit`` bytes."""
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise BlobTooLarge(f"is not zlib data ({exc})") from None
    if len(raw) > limit or inflater.unconsumed_tail:
        raise BlobTooLarge(f"expands beyond {limit:,} bytes (set ${ENV_MAX_BLOB_BYTES} to allow more)")
    return raw


class BlobRepository:
    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    def put_blob(self, blob: Blob) -> str:
        """Store ``blob`` (if new; inside the caller's transaction) and return its key."""
        self.db.execute(
            f"INSERT OR IGNORE INTO {TABLE} (sha256, dtype, shape, raw_bytes, data) VALUES (?, ?, ?, ?, ?)",
            [blob.sha256, blob.dtype, blob.shape, blob.raw_bytes, blob.data],
        )
        return blob.sha256

    def body(self, digest: str, layout: str) -> bytes:
        """A laid-out blob's body, its bytes checked against their key first: what a reader shows is what was logged,
        or a refusal naming the blob (``verify`` names the same problem)."""
        data = self.stored_bytes(digest)
        if data is None:
            raise UserError(f"blob {digest[:16]}… is missing from the database (deleted?): run `llm-audit verify`")
        if hashlib.sha256(data).hexdigest() != digest:
            raise UserError(f"blob {digest[:16]}… does not match its SHA-256 (altered): run `llm-audit verify`")
        try:
            return layout_body(data, layout)
        except (BlobTooLarge, ValueError) as exc:
            raise UserError(f"blob {digest[:16]}… {exc}: run `llm-audit verify`") from None

    def put(self, array: np.ndarray) -> str:
        """Store ``array`` (if new) and return its key."""
        data = encode_array(array)
        shape = ",".join(map(str, array.shape))
        return self.put_blob(Blob(hashlib.sha256(data).hexdigest(), str(array.dtype), shape, int(array.nbytes), data))

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
