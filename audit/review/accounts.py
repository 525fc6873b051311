"""Workspace accounts: adding and changing users, passwords (Argon2id), API tokens, logins and lockout.

Every change to an account is a ``user`` row and event (:mod:`audit.store.users`); every login
and failed login is an event (:mod:`audit.store.access`). The lockout is read back from those
events, so it holds across restarts of the server and is itself part of the record:
``lockout_after`` wrong passwords in a row (since the last successful login) lock the account
for ``lockout_seconds`` from the last of them. Attempts while locked are refused without
checking the password, logged, and do not extend the lock.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from ..clock import utc_iso
from ..errors import UserError
from ..ids import uuid7
from ..store import AuditStore, check_writable
from ..store.users import UserChange
from .errors import Forbidden, Locked, NotFound, Unauthenticated
from .roles import ADMIN, MANAGE_USERS, Principal, check_role, require

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MIN_PASSWORD, MAX_PASSWORD = 12, 1024
TOKEN_PREFIX = "lla_"
WRONG = "wrong user name or password"

# Argon2id with the library's defaults (RFC 9106's second recommended option: 64 MiB, t=3, p=4).
_HASHER = PasswordHasher(type=Type.ID)
# Compared against when the name is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _HASHER.hash("llm-audit: no such user")


@dataclass(frozen=True)
class LoginPolicy:
    lockout_after: int = 5  # wrong passwords in a row
    lockout_seconds: int = 15 * 60
    clock: Callable[[], float] = time.time  # seconds since the epoch; tests move it


@dataclass
class Account:
    name: str
    role: str
    disabled: bool
    since: str  # when the account was added
    changed: str  # when it last changed
    has_token: bool = False

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "role": self.role,
            "disabled": self.disabled,
            "since": self.since,
            "changed": self.changed,
            "has_token": self.has_token,
        }


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise UserError(
            f"user name {name!r} is not allowed: use 1 to 64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit"
        )
    return name


def check_password(password: str) -> str:
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise UserError(f"a password needs {MIN_PASSWORD} to {MAX_PASSWORD} characters: choose a longer one")
    return password


def hash_password(password: str) -> str:
    return _HASHER.hash(check_password(password))


def token_digest(token: str) -> str:
    """Tokens are 256 random bits, so a plain SHA-256 is enough to store them (no slow hash needed)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Accounts:
    """Users of one audit database. ``actor`` is who makes a change (an admin's Principal, or the CLI operator)."""

    def __init__(self, db_path: Path, policy: LoginPolicy | None = None) -> None:
        self.db_path = db_path
        self.policy = policy or LoginPolicy()

    # -- changes ------------------------------------------------------------------------------
    def _change(self, actor: Principal, name: str, action: str, role: str, disabled: bool) -> UserChange:
        return UserChange(uuid7(), name, action, role, disabled, actor.name, actor.via, utc_iso())

    def _admin(self, actor: Principal) -> None:
        if actor.via != "cli":  # the CLI is whoever holds the database file: it may create the first admin
            require(actor, MANAGE_USERS)

    def add(self, actor: Principal, name: str, role: str, password: str) -> Account:
        self._admin(actor)
        check_name(name)
        check_role(role)
        digest = hash_password(password)
        check_writable(self.db_path)
        with AuditStore.open(self.db_path, write=True) as store, store.transaction():
            if store.users.current(name) is not None:
                raise UserError(f"user {name} already exists: change them with `llm-audit users set-role` or `enable`")
            store.users.append(self._change(actor, name, "add", role, False), password_hash=digest)
        return self.get(name)

    def _update(self, actor: Principal, name: str, action: str, *, role: str | None = None, disabled=None) -> Account:
        self._admin(actor)
        check_name(name)
        if role is not None:
            check_role(role)
        check_writable(self.db_path)
        with AuditStore.open(self.db_path, write=True) as store, store.transaction():
            now = store.users.current(name)
            if now is None:
                raise NotFound(f"no user {name}: run `llm-audit users list` to see the users")
            new_role = role if role is not None else now.role
            new_disabled = now.disabled if disabled is None else disabled
            if actor.name == name and (new_disabled or new_role != ADMIN) and now.role == ADMIN:
                raise Forbidden(f"{name} cannot remove their own admin rights: ask another admin")
            if (new_role, new_disabled) == (now.role, now.disabled):
                raise UserError(
                    f"user {name} is already {'disabled' if now.disabled else 'enabled'} with the role {now.role}"
                )
            store.users.append(self._change(actor, name, action, new_role, new_disabled))
        return self.get(name)

    def set_role(self, actor: Principal, name: str, role: str) -> Account:
        return self._update(actor, name, "set-role", role=role)

    def disable(self, actor: Principal, name: str) -> Account:
        return self._update(actor, name, "disable", disabled=True)

    def enable(self, actor: Principal, name: str) -> Account:
        return self._update(actor, name, "enable", disabled=False)

    def set_password(self, actor: Principal, name: str, password: str) -> Account:
        self._admin(actor)
        digest = hash_password(password)
        with AuditStore.open(self.db_path, write=True) as store, store.transaction():
            now = self._existing(store, name)
            store.users.append(self._change(actor, name, "password", now.role, now.disabled), password_hash=digest)
        return self.get(name)

    def issue_token(self, actor: Principal, name: str) -> str:
        """A new personal API token for ``name`` (replacing any earlier one); shown once, stored as SHA-256."""
        self._admin(actor)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with AuditStore.open(self.db_path, write=True) as store, store.transaction():
            now = self._existing(store, name)
            store.users.set_token(
                self._change(actor, name, "token", now.role, now.disabled), uuid7(), token_digest(token)
            )
        return token

    @staticmethod
    def _existing(store: AuditStore, name: str) -> UserChange:
        now = store.users.current(check_name(name))
        if now is None:
            raise NotFound(f"no user {name}: run `llm-audit users list` to see the users")
        return now

    # -- reading ---------------------------------------------------------------------------------
    def list(self) -> list[Account]:
        if not self.db_path.exists():
            return []
        with AuditStore.open(self.db_path) as store:
            if not store.users.exists():
                return []
            return [self._account(store, change) for change in store.users.all_current()]

    def get(self, name: str) -> Account:
        with AuditStore.open(self.db_path) as store:
            return self._account(store, self._existing(store, name))

    @staticmethod
    def _account(store: AuditStore, change: UserChange) -> Account:
        first = store.users.first(change.name)
        return Account(
            change.name,
            change.role,
            change.disabled,
            first.created_at if first else change.created_at,
            change.created_at,
            store.users.has_token(change.name),
        )

    def principal(self, store: AuditStore, name: str, via: str) -> Principal:
        """The user ``name`` as they are now; 401 if there is no such enabled account."""
        if not store.users.exists():
            raise Unauthenticated("no such user: log in again")
        now = store.users.current(name)
        if now is None or now.disabled:
            raise Unauthenticated(f"the account {name} is disabled or gone: ask an admin")
        return Principal(now.name, now.role, via)

    def by_token(self, store: AuditStore, token: str) -> Principal:
        name = store.users.by_token(token_digest(token)) if token.startswith(TOKEN_PREFIX) else None
        if name is None:
            raise Unauthenticated("the API token is not valid: create one with `llm-audit users token NAME`")
        return self.principal(store, name, "api")

    # -- logging in ------------------------------------------------------------------------------
    def login(self, name: str, password: str, *, client: str = "", via: str = "web") -> Principal:
        """Check ``name``'s password, log the login or the failure, refuse (401, or 429 when locked)."""
        known = isinstance(name, str) and NAME.match(name) is not None
        now = self.policy.clock()
        at = utc_iso(now)
        with AuditStore.open(self.db_path, write=True) as store:
            change = store.users.current(name) if known and store.users.exists() else None
            if change is None:
                _verify(_DUMMY_HASH, password)
                store.access.login_failed(None, {"at": at, "reason": "unknown user", "client": client, "via": via})
                raise Unauthenticated(WRONG)
            locked_until = self._locked_until(store, name, now)
            if locked_until is not None:
                store.access.login_failed(name, {"at": at, "reason": "locked", "client": client, "via": via})
                raise _locked(locked_until, now)
            stored = store.users.password_hash(name) or _DUMMY_HASH
            if not _verify(stored, password):
                store.access.login_failed(name, {"at": at, "reason": "password", "client": client, "via": via})
                locked_until = self._locked_until(store, name, now)
                if locked_until is not None:
                    raise _locked(locked_until, now)
                raise Unauthenticated(WRONG)
            if change.disabled:
                store.access.login_failed(name, {"at": at, "reason": "disabled", "client": client, "via": via})
                raise Unauthenticated(f"the account {name} is disabled: ask an admin to enable it")
            if _HASHER.check_needs_rehash(stored):
                store.users.rehash(name, _HASHER.hash(password), at)
            store.access.login(name, {"at": at, "role": change.role, "client": client, "via": via})
            return Principal(name, change.role, via)

    def logout(self, principal: Principal, *, client: str = "") -> None:
        with AuditStore.open(self.db_path, write=True) as store:
            store.access.logout(principal.name, {"at": utc_iso(self.policy.clock()), "client": client})

    def _locked_until(self, store: AuditStore, name: str, now: float) -> float | None:
        wrong: list[float] = []
        for kind, _, payload in store.access.recent_logins(name, 20 * self.policy.lockout_after):
            if kind == "login":
                break
            if payload.get("reason") == "password":
                wrong.append(_epoch(str(payload.get("at"))))
        if len(wrong) < self.policy.lockout_after:
            return None
        until = wrong[0] + self.policy.lockout_seconds
        return until if until > now else None


def _verify(stored: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored, password if isinstance(password, str) else "")
    except (VerificationError, InvalidHashError):
        return False


def _epoch(iso: str) -> float:
    return datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


def _locked(until: float, now: float) -> Locked:
    wait = max(1, int(until - now + 0.999))
    return Locked(
        f"too many wrong passwords: this account is locked until {utc_iso(until)[:19]}Z UTC ({wait // 60 + 1} min); "
        "try again then or ask an admin",
        wait,
    )


class LoginThrottle:
    """At most ``limit`` failed logins per client address per ``window`` seconds (in memory, per server)."""

    def __init__(self, limit: int = 20, window: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, client: str) -> None:
        with self._lock:
            now = self.clock()
            recent = self._failures.get(client)
            while recent and recent[0] <= now - self.window:
                recent.popleft()
            if recent and len(recent) >= self.limit:
                wait = max(1, int(recent[0] + self.window - now + 0.999))
                raise Locked(f"too many failed logins from this address: wait {wait} s and try again", wait)

    def failed(self, client: str) -> None:
        with self._lock:
            self._failures.setdefault(client, deque()).append(self.clock())
