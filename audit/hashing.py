"""SHA-256 of files and values, with a cache so large weights are hashed once.

Hashing a multi-gigabyte checkpoint on every generation would dominate the cost of
recording, so file hashes are cached by (absolute path, size, mtime in ns): a file that
is replaced or touched is hashed again. The cache lives beside the converted models
(see :mod:`audit.model.cache`) as a small JSON file.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

_CHUNK = 1 << 20


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_text(text: str) -> str:
    return sha256_bytes(text.encode("utf-8"))


def sha256_file_uncached(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


class FileHashCache:
    """A JSON file mapping ``path|size|mtime_ns`` to the file's SHA-256."""

    def __init__(self, cache_file: Path | None) -> None:
        self._file = cache_file
        self._entries: dict[str, str] = {}
        if cache_file is not None and cache_file.is_file():
            try:
                self._entries = json.loads(cache_file.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                self._entries = {}

    def sha256(self, path: Path) -> str:
        path = Path(path).resolve()
        stat = path.stat()
        key = f"{path}|{stat.st_size}|{stat.st_mtime_ns}"
        cached = self._entries.get(key)
        if cached is not None:
            return cached
        digest = sha256_file_uncached(path)
        self._entries[key] = digest
        self._save()
        return digest

    def _save(self) -> None:
        if self._file is None:
            return
        try:
            self._file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._file.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(self._entries, indent=0, sort_keys=True), encoding="utf-8")
            os.replace(tmp, self._file)
        except OSError:
            pass  # a read-only cache only costs a re-hash next time
