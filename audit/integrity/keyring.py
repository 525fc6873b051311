"""The signing side of one database and the verifier's trust file, as one service for the Auditor.

``Auditor.signing`` returns a :class:`Keyring`: where this database's signing key is and what it
is, the trust file (add, list, remove pinned keys), key rotation and exported checkpoints. Each
method is a few lines over :mod:`.keys`, :mod:`.trust` and :mod:`.key_location`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..store import AuditStore
from ..store.checkpoints import Checkpoint
from . import keys
from .key_location import signing_key_choice
from .note import origin_of, vkey
from .trust import TrustedKey, TrustFile


@dataclass(frozen=True)
class KeyInfo:
    """A database's signing key as a person needs to know it (never the private part)."""

    path: Path
    origin: str
    exists: bool
    key_id: str | None
    public_pem: str | None
    note_key: str | None  # the signed-note verifier key (``name+hash+key``) of exported checkpoints


class Keyring:
    def __init__(self, db_path: Path, trust_file: Path | None = None) -> None:
        self.db_path = db_path
        self.trust = TrustFile(trust_file)

    def with_trust_file(self, trust_file: Path | None) -> Keyring:
        """The same keyring over another trust file (``None``: the default one)."""
        return Keyring(self.db_path, trust_file)

    def info(self, key: str | Path | None = None, *, create: bool = False) -> KeyInfo:
        """Where the signing key of this database is (and its id and public key once it exists; ``create``: make it now)."""
        origin = None
        if self.db_path.exists():
            with AuditStore.open(self.db_path) as store:
                origin = store.events.origin()
        choice = signing_key_choice(self.db_path, key, origin)
        if not choice.path.exists() and not create:
            return KeyInfo(choice.path, choice.origin, False, None, None, None)
        signing, _ = keys.signing_key(self.db_path, key)
        note = None
        if self.db_path.exists():
            with AuditStore.open(self.db_path) as store:
                if store.events.count():
                    note = vkey(origin_of(store.events.at(1).leaf_hash), signing)
        return KeyInfo(choice.path, choice.origin, True, signing.key_id, signing.public_pem(), note)

    def write_public(self, output: Path, key: str | Path | None = None) -> Path:
        """Write the signing key's public half (PEM) for validators and trust files."""
        signing, _ = keys.signing_key(self.db_path, key)
        try:
            output.write_text(signing.public_pem(), encoding="utf-8")
        except OSError as exc:
            raise UserError(f"cannot write {output}: {exc.strerror}") from None
        return output

    def trust_add(self, key_file: Path, name: str | None = None, *, for_log: bool = False) -> tuple[TrustedKey, bool]:
        """Pin ``key_file``; ``for_log``: for this database's log only (its origin), else for every log it signs."""
        origin = None
        if for_log:
            with AuditStore.open(self.db_path) as store:
                origin = store.events.origin()
            if origin is None:
                raise UserError(f"{self.db_path} has no event yet, so no log to pin: record something first")
        return self.trust.add(key_file, name, origin)

    def trust_list(self) -> list[TrustedKey]:
        return self.trust.entries()

    def trust_remove(self, key_id: str) -> TrustedKey:
        return self.trust.remove(key_id)

    def rotate(self, key: str | Path | None = None, new_key: str | Path | None = None) -> keys.Rotation:
        return keys.rotate_key(self.db_path, key, new_key)

    def export(self, output: Path, key: str | Path | None = None) -> tuple[Checkpoint, str]:
        return keys.export_checkpoint(self.db_path, output, key)
