"""API keys of the recording server and proxy: issue once, store hashed, revoke, authenticate.

A key is ``lla_`` and 43 URL-safe characters (256 random bits). It is shown once, when it is
added; the database keeps its SHA-256 and its first characters, so a leaked database gives
no key away. The name a key was issued under is the operator of every record made with it:
a client cannot claim another. Adding and revoking are logged events (see
:mod:`audit.store.api_keys`).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from .clock import utc_iso
from .errors import UserError
from .ids import uuid7
from .store import AuditStore, check_writable
from .store.api_keys import ADD, REVOKE, ApiKeyEvent

PREFIX = "lla_"
SHOWN = 10  # characters of a key kept to recognise it by (prefix included): 36 of its 256 bits
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


def new_key() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def key_sha256(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass
class KeyInfo:
    """A name's key as ``keys list`` shows it: never the key, only its first characters."""

    name: str
    status: str  # "active" | "revoked"
    key_prefix: str | None
    added_at: str
    added_by: str
    revoked_at: str | None = None
    revoked_by: str | None = None


class ApiKeys:
    """The keys of one audit database; ``operator`` is who adds and revokes them."""

    def __init__(self, db_path: Path, operator: str) -> None:
        self.db_path = db_path
        self.operator = operator

    def add(self, name: str) -> str:
        """Issue a key for ``name`` and return it (the only time it can be seen); refused if the name has one."""
        name = self._check_name(name)
        check_writable(self.db_path)
        with AuditStore.open(self.db_path, write=True) as store, store.transaction():
            if name in store.api_keys.active(name):
                raise UserError(
                    f"{name!r} already has a key in force: revoke it first (`llm-audit keys revoke {name}`) or pick another name"
                )
            key = new_key()
            store.api_keys.append(
                ApiKeyEvent(uuid7(), name, ADD, key_sha256(key), key[:SHOWN], utc_iso(), self.operator)
            )
        return key

    def revoke(self, name: str, reason: str | None = None) -> ApiKeyEvent:
        """Revoke ``name``'s key now: the next request with it gets 401."""
        name = self._check_name(name)
        check_writable(self.db_path)
        with AuditStore.open(self.db_path, write=True) as store, store.transaction():
            current = store.api_keys.active(name).get(name)
            if current is None:
                raise UserError(f"{name!r} has no key in force: `llm-audit keys list` shows the names")
            row = ApiKeyEvent(uuid7(), name, REVOKE, None, current.key_prefix, utc_iso(), self.operator, reason)
            store.api_keys.append(row)
        return row

    def list(self) -> list[KeyInfo]:
        """Every name that ever had a key, with its latest key's state (oldest first)."""
        if not self.db_path.exists():
            return []
        with AuditStore.open(self.db_path) as store:
            history = store.api_keys.history()
        shown: dict[str, KeyInfo] = {}
        for row in history:
            if row.action == ADD:
                shown.pop(row.name, None)
                shown[row.name] = KeyInfo(row.name, "active", row.key_prefix, row.at, row.operator)
            elif row.name in shown:
                info = shown[row.name]
                info.status, info.revoked_at, info.revoked_by = "revoked", row.at, row.operator
        return list(shown.values())

    def count_active(self) -> int:
        if not self.db_path.exists():
            return 0
        with AuditStore.open(self.db_path) as store:
            return len(store.api_keys.active())

    def authenticate(self, key: str) -> str | None:
        """The name ``key`` was issued under if it is in force, else None."""
        if not key.startswith(PREFIX) or not self.db_path.exists():
            return None
        with AuditStore.open(self.db_path) as store:
            return store.api_keys.holder(key_sha256(key))

    @staticmethod
    def _check_name(name: str) -> str:
        name = (name or "").strip()
        if not _NAME.match(name):
            raise UserError(
                f"key name {name!r} is not usable: 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit"
            )
        return name
