"""Workspace users: every change to an account is evidence; the secrets are not.

``user_changes`` is an evidence table: one append-only row per change to an account (added,
role changed, disabled, enabled, password or API token replaced), each a hash-chained ``user``
event, so who could sign off what, and since when, is part of the verified record. A user's
current state is their latest row in the chain's order.

``credentials`` holds the Argon2id password hash and the SHA-256 of the personal API token. It
is deliberately *not* evidence and not append-only: a secret must be replaceable, and a hash
written into the log could never be removed. Its changes are logged (as ``user`` rows) without
the secret itself.

A change that alters what the account may do or how it proves who it is (``REVOKING``: added,
password, disabled, enabled, role) starts a new *session generation*: the id of that change.
A web session carries the generation of its login and is refused once it differs, and the same
change deletes the personal API token, so neither outlives it (disable-then-enable included).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .append_only import append_only
from .database import atomic
from .evidence import EvidenceRepository
from .schema import register

TABLE = "user_changes"
CREDENTIALS = "credentials"
REVOKING = ("add", "password", "disable", "enable", "set-role")

register(
    "users",
    1,
    "workspace accounts: changes (evidence, append-only) and credentials (hashes only)",
    f"""CREATE TABLE {TABLE} (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        action TEXT NOT NULL,
        role TEXT NOT NULL,
        disabled INTEGER NOT NULL,
        actor TEXT NOT NULL,
        via TEXT NOT NULL,
        created_at TEXT NOT NULL
    )""",
    f"CREATE INDEX idx_{TABLE}_name ON {TABLE} (name, seq)",
    *append_only(TABLE),
    f"""CREATE TABLE {CREDENTIALS} (
        name TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,
        token_id TEXT,
        token_sha256 TEXT UNIQUE,
        updated_at TEXT NOT NULL
    )""",
)


@dataclass
class UserChange:
    """One change to an account and the account's state after it."""

    id: str
    name: str
    action: str  # "add" | "set-role" | "disable" | "enable" | "password" | "token"
    role: str
    disabled: bool
    actor: str  # who made the change
    via: str  # "cli" | "web" | "api"
    created_at: str

    def payload(self) -> dict[str, Any]:
        return asdict(self)


_COLUMNS = tuple(UserChange.__dataclass_fields__)


def _change(row: Any) -> UserChange:
    data = {c: row[c] for c in _COLUMNS}
    data["disabled"] = bool(data["disabled"])
    return UserChange(**data)


class UserRepository(EvidenceRepository):
    """Accounts: the ``user_changes`` table with its ``user`` events, and the credentials beside it."""

    kind = "user"
    table = TABLE

    def append(self, change: UserChange, *, password_hash: str | None = None) -> int:
        """Log ``change`` (and, in the same transaction, replace the password hash); the event's seq."""
        row = {**change.payload(), "disabled": int(change.disabled)}

        def write() -> None:
            self._insert(row)
            if change.action in REVOKING and self.db[CREDENTIALS].exists():
                self.db.execute(
                    f"UPDATE {CREDENTIALS} SET token_id = NULL, token_sha256 = NULL WHERE name = ?", [change.name]
                )
            if password_hash is not None:
                self.db.execute(
                    f"INSERT INTO {CREDENTIALS} (name, password_hash, updated_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET password_hash = excluded.password_hash, updated_at = excluded.updated_at",
                    [change.name, password_hash, change.created_at],
                )

        return self._append(change.id, write, change.payload())

    def set_token(self, change: UserChange, token_id: str, token_sha256: str) -> int:
        """Replace ``change.name``'s API token (only its SHA-256 is kept) and log the change."""
        with atomic(self.db.conn):
            self.db.execute(
                f"UPDATE {CREDENTIALS} SET token_id = ?, token_sha256 = ?, updated_at = ? WHERE name = ?",
                [token_id, token_sha256, change.created_at, change.name],
            )
            return self.append(change)

    def payload(self, subject_id: str) -> dict[str, Any]:
        if not self.exists():
            raise KeyError(subject_id)
        rows = list(self.db.query(f"SELECT {', '.join(_COLUMNS)} FROM {TABLE} WHERE id = ?", [subject_id]))
        if not rows:
            raise KeyError(subject_id)
        return _change(rows[0]).payload()

    def current(self, name: str, *, any_case: bool = False) -> UserChange | None:
        """The latest change of ``name`` in the chain's order: the account's state now (None: no such user).
        ``any_case``: ``name`` in lower case names an account stored in any case (ASCII names only)."""
        where = "lower(t.name) = ?" if any_case else "t.name = ?"
        rows = list(self._chain_ordered(where, [name], newest_first=True, limit=1))
        return _change(rows[0]) if rows else None

    def generation(self, name: str) -> str:
        """The id of ``name``'s latest change in ``REVOKING``: sessions of an older generation are over."""
        marks = ", ".join("?" for _ in REVOKING)
        rows = list(
            self._chain_ordered(f"t.name = ? AND t.action IN ({marks})", [name, *REVOKING], newest_first=True, limit=1)
        )
        return str(rows[0]["id"]) if rows else ""

    def first(self, name: str) -> UserChange | None:
        rows = list(self._chain_ordered("t.name = ?", [name], limit=1))
        return _change(rows[0]) if rows else None

    def all_current(self) -> list[UserChange]:
        """Every account's current state, by name."""
        latest: dict[str, UserChange] = {}
        for row in self._chain_ordered():
            latest[row["name"]] = _change(row)
        return [latest[name] for name in sorted(latest)]

    def history(self, name: str) -> list[UserChange]:
        return [_change(row) for row in self._chain_ordered("t.name = ?", [name])]

    def password_hash(self, name: str) -> str | None:
        if not self.db[CREDENTIALS].exists():
            return None
        row = self.db.execute(f"SELECT password_hash FROM {CREDENTIALS} WHERE name = ?", [name]).fetchone()
        return row[0] if row else None

    def by_token(self, token_sha256: str) -> str | None:
        """The name whose API token hashes to ``token_sha256``, or None."""
        if not self.db[CREDENTIALS].exists():
            return None
        row = self.db.execute(f"SELECT name FROM {CREDENTIALS} WHERE token_sha256 = ?", [token_sha256]).fetchone()
        return row[0] if row else None

    def has_token(self, name: str) -> bool:
        if not self.db[CREDENTIALS].exists():
            return False
        row = self.db.execute(f"SELECT token_sha256 FROM {CREDENTIALS} WHERE name = ?", [name]).fetchone()
        return bool(row and row[0])

    def rehash(self, name: str, password_hash: str, at: str) -> None:
        """Store a re-hash of the same password (Argon2 parameters raised): not a change of the account."""
        with atomic(self.db.conn):
            self.db.execute(
                f"UPDATE {CREDENTIALS} SET password_hash = ?, updated_at = ? WHERE name = ?", [password_hash, at, name]
            )
