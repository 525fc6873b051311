"""Writing a pack's files: into a private staging folder, every file's SHA-256 and size kept as it is
written, then the manifest signed by the log's key, then the folder moved into place (and zipped).

A failed export leaves no half pack behind: the staging folder is removed and the output path
never appears. Nothing is overwritten: an existing output is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..integrity.signing import SigningKey
from .verifier import MANIFEST, SIGNATURE, manifest_message, signature_file


def check_output(output: Path, zipped: bool) -> None:
    """Refuse before any work: an output (or its .zip) that exists, or a folder that cannot take it."""
    targets = [output, zip_path(output)] if zipped else [output]
    for target in targets:
        if target.exists():
            raise UserError(f"{target} already exists: pass another -o (a pack is never overwritten)")
    parent = output.resolve().parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise UserError(f"folder {parent} does not exist or is not writable: pass -o in a writable folder")


def zip_path(output: Path) -> Path:
    return output.with_name(output.name + ".zip")


class PackFolder:
    def __init__(self, output: Path) -> None:
        self.output = output
        self.staging = output.with_name(f".{output.name}.{os.getpid()}.partial")
        shutil.rmtree(self.staging, ignore_errors=True)
        self.staging.mkdir(mode=0o700)
        self.files: dict[str, dict[str, Any]] = {}

    def _path(self, name: str) -> Path:
        path = self.staging / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def write(self, name: str, data: bytes) -> None:
        self._path(name).write_bytes(data)
        self.files[name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}

    def json(self, name: str, value: Any) -> None:
        self.write(name, (json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8"))

    def lines(self, name: str, lines: Iterable[str]) -> int:
        """Write one line per item (each already its final text), hashing as it streams; the count."""
        digest, size, count = hashlib.sha256(), 0, 0
        with open(self._path(name), "wb") as handle:
            for line in lines:
                data = (line + "\n").encode("utf-8")
                handle.write(data)
                digest.update(data)
                size, count = size + len(data), count + 1
        self.files[name] = {"sha256": digest.hexdigest(), "size": size}
        return count

    def add_file(self, name: str, path: Path) -> None:
        """A file written by another library (Parquet) into :meth:`place`: hash it as it is."""
        data = path.read_bytes()
        self.files[name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}

    def place(self, name: str) -> Path:
        return self._path(name)

    def seal(self, manifest: dict[str, Any], key: SigningKey) -> str:
        """Write the manifest (listing every file so far) and its signature; the manifest's SHA-256."""
        manifest = {**manifest, "files": dict(sorted(self.files.items()))}
        data = (json.dumps(manifest, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
        (self.staging / MANIFEST).write_bytes(data)
        signature = {"key_id": key.key_id, "public_key": key.raw.hex(), "signature": key.sign(manifest_message(data))}
        (self.staging / SIGNATURE).write_bytes(signature_file(signature))
        return hashlib.sha256(data).hexdigest()

    def finish(self, zipped: bool) -> Path | None:
        """Move the staged pack to its place; with ``zipped`` also write ``<output>.zip``; the zip's path."""
        os.replace(self.staging, self.output)
        if not zipped:
            return None
        target = zip_path(self.output)
        partial = target.with_name(f".{target.name}.partial")
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(self.output.rglob("*")):
                if path.is_file():
                    zf.write(path, (Path(self.output.name) / path.relative_to(self.output)).as_posix())
        os.replace(partial, target)
        return target

    def discard(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)

    def withdraw(self, zipped: Path | None) -> None:
        """Remove a finished pack (and its zip): when its export could not be logged, it must not be handed out."""
        shutil.rmtree(self.output, ignore_errors=True)
        if zipped is not None:
            zipped.unlink(missing_ok=True)
