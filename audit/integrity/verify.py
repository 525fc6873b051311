"""``verify``: recompute everything the log commits to, in one streaming pass, and say what it proves.

Checks, per event in seq order: seq is gap-free, the payload hashes to ``payload_sha256``,
``prev_hash`` links to the previous leaf, the leaf hash recomputes, and, for every evidence
kind (``AuditStore.evidence``: generations, explanations, attention maps, replays, reports,
provenance, checkpoints and whatever a later component registers), the row still holds the
logged payload and every blob it references is stored intact. Then, the other way round,
every row of every evidence table has exactly one event, at the position of its event.
Key-transition events are checked as they come (signed by the key they retire and by the
new one, tied to the leaf before them).

Leaves feed a streaming Merkle accumulator; whenever it reaches a checkpoint's tree size the
root, the Ed25519 signature and the signer are checked: the signer must be the log's key at
that point (its first signer, changed only by a valid key-transition). With pinned keys (the
trust file or ``--key``: :class:`.trust.Pins`) at least one checkpoint must be signed by a
pinned key (or a key a pinned key handed over to), else the checkpoints were removed or
re-signed; ``require_signed`` also refuses events after the last such checkpoint. Saved
checkpoints (``against``, C2SP notes) are proven to be prefixes of the log with RFC 6962
consistency proofs, so a rollback or a rewritten history is found. Unpinned results always
say that they are unpinned.

Reading uses a read-only connection: verifying can never change the evidence.

This module is the public entry (``verify_database``, ``verify_path``, ``verify_store``,
``verify_junit``); each check lives in its own module: :mod:`.results` (what was found, as text
and JUnit), :mod:`.signers` (key transitions and pinning), :mod:`.evidence_check` (evidence both
ways), :mod:`.evidence_process` (that check in a second process), :mod:`.consistency` (saved
checkpoints) and :mod:`.chain_pass` (the one pass over the log that ties them together).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from ..errors import UserError
from ..store import AuditStore
from ..store.checkpoints import KIND as CHECKPOINT_KIND
from ..store.database import describe_write_error
from .chain_pass import verify_store
from .origin import log_identity
from .results import CHECKS, MAX_PROBLEMS, AgainstResult, Cover, Problem, VerifyResult, verify_junit
from .signers import pinned_signers
from .trust import Pins, resolve_pins


def verify_database(
    path: Path,
    pins: Pins | None = None,
    *,
    require_signed: bool = False,
    against: Sequence[Path] = (),
    parallel: bool | None = None,
    trust_file: str | Path | None = None,
) -> VerifyResult:
    """Open ``path`` read-only and verify it (``pins``: default the trust file's pins of this log, found by its
    origin); a damaged file is a UserError (exit 2)."""
    try:
        with AuditStore.open(path) as store:
            if pins is None:
                pins = (
                    resolve_pins(Path(path), (), trust_file, log_identity(store)) if store.events.exists() else Pins()
                )
            return verify_store(store, pins, require_signed=require_signed, against=against, parallel=parallel)
    except sqlite3.DatabaseError as exc:
        if "full" in str(exc):
            raise UserError(f"{describe_write_error(exc, Path(path))}, then verify again") from None
        raise UserError(
            f"cannot read {path} ({exc}): the file is damaged or not an llm-audit database; restore it from a backup"
        ) from None


def verify_path(
    db_path: Path,
    key: str | Path | Sequence[str | Path] | None = None,
    *,
    trust_file: str | Path | None = None,
    require_signed: bool = False,
    against: Sequence[str | Path] = (),
) -> VerifyResult:
    """:func:`verify_database` pinned to the ``key`` file(s) when given, else to the trust file (what ``verify`` runs)."""
    files = [key] if isinstance(key, str | Path) else list(key or [])
    pins = resolve_pins(Path(db_path), [Path(k) for k in files]) if files else None
    return verify_database(
        Path(db_path), pins, require_signed=require_signed, against=[Path(a) for a in against], trust_file=trust_file
    )


__all__ = [
    "CHECKS",
    "CHECKPOINT_KIND",
    "MAX_PROBLEMS",
    "AgainstResult",
    "Cover",
    "Problem",
    "VerifyResult",
    "pinned_signers",
    "verify_database",
    "verify_junit",
    "verify_path",
    "verify_store",
]
