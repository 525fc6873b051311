"""The files a check uses: the suite and baseline a user names (one message per way reading fails), its database."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import UserError


def read_user_file(path: Path, what: str, missing_hint: str) -> str:
    """The text of ``path``; a missing or unreadable file is a :class:`UserError` naming ``what`` it is."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{what} {path} not found: {missing_hint}") from None
    except OSError as exc:
        raise UserError(f"cannot read {what} {path}: {exc.strerror}") from None


@contextmanager
def database(db: str | Path | None) -> Iterator[Path]:
    """``db``, or a throwaway database removed afterwards: a check keeps its records only when asked (``--db``)."""
    if db is not None:
        yield Path(db)
        return
    with tempfile.TemporaryDirectory(prefix="llm-audit-check-") as folder:
        yield Path(folder) / "check.db"
