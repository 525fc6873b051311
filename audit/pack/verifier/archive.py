"""Extracting a zipped pack without trusting it: limits on files, sizes and ratios, no paths outside, no links."""

from __future__ import annotations

import stat
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from .formats import MANIFEST, MAX_FILES, MAX_RATIO, MAX_TOTAL, CannotCheck


def safe_extract(archive: Path, into: Path) -> Path:
    """Extract a zipped pack after checking every entry: no absolute or ``..`` path, no link, no bomb."""
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_FILES:
                raise CannotCheck(f"{archive} holds {len(infos)} entries (limit {MAX_FILES}): refused unopened")
            total = sum(i.file_size for i in infos)
            packed = sum(i.compress_size for i in infos) or 1
            worst = max((i.file_size / max(i.compress_size, 1) for i in infos if i.file_size > 2**20), default=0)
            if total > MAX_TOTAL or max(worst, total / packed) > MAX_RATIO:
                raise CannotCheck(
                    f"{archive} would expand to {total} bytes from {packed} ({total / packed:.0f}x): a zip bomb, refused unopened"
                )
            for info in infos:
                name = PurePosixPath(info.filename)
                if name.is_absolute() or ".." in name.parts or "\\" in info.filename or ":" in info.filename:
                    raise CannotCheck(f"{archive} entry {info.filename!r} points outside the pack: refused unopened")
                if stat.S_ISLNK(info.external_attr >> 16):
                    raise CannotCheck(f"{archive} entry {info.filename!r} is a symbolic link: refused unopened")
            for info in infos:
                target = into / info.filename
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as dst:
                    left = info.file_size
                    while chunk := src.read(1 << 20):
                        left -= len(chunk)
                        if left < 0:
                            raise CannotCheck(f"{archive} entry {info.filename!r} is larger than it declares: refused")
                        dst.write(chunk)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, RuntimeError, NotImplementedError) as exc:
        raise CannotCheck(f"{archive} is not a readable zip ({exc})") from None
    tops = [p for p in into.iterdir()]
    return tops[0] if len(tops) == 1 and tops[0].is_dir() and not (into / MANIFEST).exists() else into
