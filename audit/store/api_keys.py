"""The ``api_keys`` table: who may call the recording server and proxy, append-only.

A key is never stored, only its SHA-256 (keys are 256 random bits, so a plain hash cannot be
reversed by guessing) and a short prefix to recognise it by. Adding and revoking a key are
rows of their own, each logged as an ``api-key`` event in the same transaction, so the chain
shows who could record as whom, and since when. Which rows are in force follows the chain's
order: a name's latest row decides whether it has a key now.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .append_only import append_only
from .evidence import EvidenceRepository
from .schema import register

TABLE = "api_keys"
ADD, REVOKE = "add", "revoke"

register(
    "api_keys",
    1,
    "API keys of the recording server (hashed), added and revoked as append-only rows",
    f"""CREATE TABLE {TABLE} (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        action TEXT NOT NULL CHECK (action IN ('{ADD}', '{REVOKE}')),
        key_sha256 TEXT,
        key_prefix TEXT,
        at TEXT NOT NULL,
        operator TEXT NOT NULL,
        reason TEXT
    )""",
    f"CREATE INDEX idx_{TABLE}_hash ON {TABLE} (key_sha256)",
    f"CREATE INDEX idx_{TABLE}_name ON {TABLE} (name)",
    *append_only(TABLE),
)


@dataclass
class ApiKeyEvent:
    """One row: a key added for ``name`` (with its hash and prefix) or the name's key revoked."""

    id: str
    name: str
    action: str  # ADD | REVOKE
    key_sha256: str | None
    key_prefix: str | None
    at: str
    operator: str  # who ran `keys add` / `keys revoke`
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_COLUMNS = tuple(ApiKeyEvent.__dataclass_fields__)


class ApiKeyRepository(EvidenceRepository):
    """Append and read key rows: the ``api_keys`` table and its ``api-key`` events."""

    kind = "api-key"
    table = TABLE

    def append(self, row: ApiKeyEvent) -> int:
        """Store ``row`` and log it (the payload is the row itself); returns the event's seq."""
        data = row.to_dict()
        return self._append_row(row.id, {c: data[c] for c in _COLUMNS}, data)

    def payload(self, subject_id: str) -> dict[str, Any]:
        rows = list(self.db.query(f"SELECT {', '.join(_COLUMNS)} FROM {TABLE} WHERE id = ?", [subject_id]))
        if not rows:
            raise KeyError(subject_id)
        return ApiKeyEvent(**rows[0]).to_dict()

    def history(self, name: str | None = None) -> list[ApiKeyEvent]:
        """Every row (of one name) that has its event, in the chain's order."""
        where, params = ("t.name = ?", [name]) if name is not None else ("", [])
        return [ApiKeyEvent(**{c: row[c] for c in _COLUMNS}) for row in self._chain_ordered(where, params)]

    def active(self, name: str | None = None) -> dict[str, ApiKeyEvent]:
        """name -> the ``add`` row of its key in force now (revoked names are absent)."""
        current: dict[str, ApiKeyEvent] = {}
        for row in self.history(name):
            if row.action == ADD:
                current[row.name] = row
            else:
                current.pop(row.name, None)
        return current

    def holder(self, key_sha256: str) -> str | None:
        """The name whose key in force hashes to ``key_sha256``, or None (unknown or revoked)."""
        if not self.exists():
            return None
        found = self.db.execute(
            f"SELECT name FROM {TABLE} WHERE key_sha256 = ? AND action = ? LIMIT 1", [key_sha256, ADD]
        ).fetchone()
        if found is None:
            return None
        row = self.active(found[0]).get(found[0])
        return found[0] if row is not None and row.key_sha256 == key_sha256 else None
