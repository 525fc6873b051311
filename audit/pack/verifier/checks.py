"""The verifier: the checks in order, each stopping the run at its first problem, on a folder or a zip."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from .archive import safe_extract
from .formats import MANIFEST, CannotCheck
from .keys import parse_vkey
from .log_checks import LogChecks
from .record_checks import RecordChecks
from .result import Result


class Verifier(LogChecks, RecordChecks):
    def __init__(self, root: Path, keys: list[bytes], witnesses: list[str], need_witnesses: int, result: Result):
        self.root, self.keys, self.result = root, keys, result
        self.witnesses = [parse_vkey(w) for w in witnesses]
        self.need_witnesses = need_witnesses

    def read(self, name: str) -> bytes:
        try:
            return (self.root / name).read_bytes()
        except OSError:
            raise ValueError(f"{name} is missing") from None

    def jsonl(self, name: str) -> list[str]:
        return [line for line in self.read(name).decode("utf-8").split("\n") if line]

    def run(self) -> None:
        r = self.result
        r.checks = [
            "manifest-signature",
            "files",
            "checkpoint",
            "witnesses",
            "index",
            "events",
            "opened",
            "consistency",
        ]
        r.checks.append("completeness")
        if not (self.root / MANIFEST).is_file():
            raise CannotCheck(f"{r.pack} is not an llm-audit evidence pack (no {MANIFEST})")
        steps = (self.manifest, self.checkpoint, self.index, self.events, self.opened, self.consistency)
        steps += (self.completeness,)
        for step in steps:
            try:
                step()
            except (ValueError, KeyError, TypeError, IndexError, AttributeError, OSError) as exc:
                name = step.__name__
                r.fail(name, f"{name}: malformed content ({type(exc).__name__}: {exc})")
            if not r.ok:
                return


def verify_pack(
    pack: Path,
    keys: list[bytes],
    *,
    witnesses: Sequence[str] = (),
    need_witnesses: int = 0,
) -> Result:
    """Check ``pack`` (a folder or a .zip) against the pinned raw public ``keys``; CannotCheck for exit 2."""
    if not keys:
        raise CannotCheck("no pinned key: pass --key KEY.pub.pem (the log's public key, obtained from its owner)")
    result = Result(str(pack))
    if not pack.exists():
        raise CannotCheck(f"{pack} does not exist: pass the pack folder or its .zip")
    if pack.is_file():
        with tempfile.TemporaryDirectory(prefix="llm-audit-pack-") as tmp:
            Verifier(safe_extract(pack, Path(tmp)), keys, list(witnesses), need_witnesses, result).run()
    else:
        Verifier(pack, keys, list(witnesses), need_witnesses, result).run()
    return result
