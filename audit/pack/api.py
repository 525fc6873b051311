"""The two operations the Auditor, the CLI and the workspace call: export a pack, verify a pack."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..errors import UserError
from ..integrity.trust import resolve_pins
from ..integrity.verify import verify_path
from ..privacy.guard import PrivacyGuard
from . import verifier
from .export import ExportOptions, ExportResult, export_pack


def export(
    db_path: Path,
    options: ExportOptions,
    *,
    key: Sequence[Path] = (),
    trust_file: Path | None = None,
    guard: PrivacyGuard | None = None,
) -> ExportResult:
    """Verify the log (pinned to ``key`` files, else the trust file), then write the pack ``options`` asks for."""
    check = verify_path(db_path, list(key), trust_file=trust_file)
    return export_pack(db_path, options, check, guard)


def pinned_keys(key: Sequence[Path] = (), trust_file: Path | None = None) -> list[bytes]:
    """Raw public keys a pack is checked against: the ``key`` files, else every key of the trust file."""
    pins = resolve_pins(None, [Path(k) for k in key], trust_file)
    return [k.raw for k in pins.keys]


def verify_pack(
    pack: Path,
    key: Sequence[Path] = (),
    *,
    trust_file: Path | None = None,
    witnesses: Sequence[str] = (),
    need_witnesses: int = 0,
) -> verifier.Result:
    """Check ``pack`` with the pack verifier; a pack that cannot be checked is a UserError (exit 2)."""
    try:
        return verifier.verify_pack(
            Path(pack), pinned_keys(key, trust_file), witnesses=list(witnesses), need_witnesses=need_witnesses
        )
    except verifier.CannotCheck as exc:
        raise UserError(f"cannot check {pack}: {exc}") from None
