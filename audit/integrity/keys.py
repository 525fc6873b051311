"""Which key a command uses: the key file verification reads, and the key a checkpoint is signed with.

Signing and checking are :mod:`.signing`'s job; this module only decides *which* key file, and
signs through the store, so the choice lives in one place for ``verify``, ``checkpoint`` and the
demo.
"""

from __future__ import annotations

from pathlib import Path

from ..store import AuditStore
from ..store.checkpoints import Checkpoint
from .signing import default_key_path, obtain_signing_key


def reading_key(db_path: Path, key: str | Path | None) -> Path | None:
    """The key verification pins: an explicit ``key`` (which must exist), else the default key if it is there."""
    if key is not None:
        return Path(key)
    default = default_key_path(db_path)
    return default if default.exists() else None


def signing_key_path(db_path: Path, key: str | Path | None) -> Path:
    return Path(key) if key is not None else default_key_path(db_path)


def sign_checkpoint(db_path: Path, key: str | Path | None = None) -> Checkpoint:
    """Sign the log's current size and root now; the key is created on first use.

    The log's known signers are read first, read-only, so a wrong key is refused before
    anything is written.
    """
    with AuditStore.open(db_path) as store:
        known = store.checkpoints.key_ids()
    signing_key = obtain_signing_key(signing_key_path(db_path, key), known)
    with AuditStore.open(db_path, write=True) as store:
        return store.events.checkpoint(signing_key)
