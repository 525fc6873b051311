"""Reading the suite and baseline files a user names: one message per way it can fail."""

from __future__ import annotations

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
