"""Workspace accounts: adding and changing users, passwords (Argon2id), API tokens, unlocking.

Every change to an account is a ``user`` row and event (:mod:`audit.store.users`); every login,
failed login and unlock is an event (:mod:`audit.store.access`). Logging in and its back-off live
in :mod:`audit.review.logins`. Names are stored and looked up normalised
(:func:`audit.review.names.person`), so ``'Rita '`` and ``rita`` are one account.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from ..clock import utc_iso
from ..errors import UserError
from ..ids import uuid7
from ..store import AuditStore, check_writable
from ..store.users import UserChange
from .errors import Forbidden, NotFound, Unauthenticated
from .logins import HASHER, WRONG, Hold, LoginPolicy, Logins
from .names import current_user, person
from .roles import ADMIN, MANAGE_USERS, Principal, check_role, require

__all__ = ["WRONG", "Account", "Accounts", "LoginPolicy", "check_name", "check_password", "hash_password"]

NAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")
MIN_PASSWORD, MAX_PASSWORD = 12, 1024
TOKEN_PREFIX = "lla_"


@dataclass
class Account:
    name: str
    role: str
    disabled: bool
    since: str  # when the account was added
    changed: str  # when it last changed
    has_token: bool = False
    locked_until: str | None = None  # failed logins hold the name back until then (UTC)
    locked_from: tuple[str, ...] = ()  # from these addresses ("*": every address but the usual one)

    @property
    def locked_where(self) -> str:
        return ", ".join(
            "every address but the one it last logged in from" if c == "*" else c or "?" for c in self.locked_from
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "role": self.role,
            "disabled": self.disabled,
            "since": self.since,
            "changed": self.changed,
            "has_token": self.has_token,
            "locked_until": self.locked_until,
            "locked_from": list(self.locked_from),
        }


def check_name(name: str) -> str:
    """``name`` normalised (NFKC, trimmed, case-folded), or refused if it is not a user name."""
    key = person(name)
    if not NAME.match(key):
        raise UserError(
            f"user name {str(name)[:80]!r} is not allowed: use 1 to 64 letters, digits, '.', '_', '@' or '-', "
            "starting with a letter or digit"
        )
    return key


def check_password(password: str) -> str:
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise UserError(f"a password needs {MIN_PASSWORD} to {MAX_PASSWORD} characters: choose a longer one")
    return password


def hash_password(password: str) -> str:
    return HASHER.hash(check_password(password))


def token_digest(token: str) -> str:
    """Tokens are 256 random bits, so a plain SHA-256 is enough to store them (no slow hash needed)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Accounts:
    """Users of one audit database. ``actor`` is who makes a change (an admin's Principal, or the CLI operator)."""

    def __init__(self, db_path: Path, policy: LoginPolicy | None = None) -> None:
        self.db_path = db_path
        self.logins = Logins(policy or LoginPolicy())

    @property
    def policy(self) -> LoginPolicy:
        return self.logins.policy

    @policy.setter
    def policy(self, policy: LoginPolicy) -> None:
        self.logins.policy = policy

    # -- changes ------------------------------------------------------------------------------
    def _change(self, actor: Principal, name: str, action: str, role: str, disabled: bool) -> UserChange:
        return UserChange(uuid7(), name, action, role, disabled, actor.name, actor.via, utc_iso())

    def _admin(self, actor: Principal) -> None:
        if actor.via != "cli":  # the CLI is whoever holds the database file: it may create the first admin
            require(actor, MANAGE_USERS)

    def _unlock(self, store: AuditStore, actor: Principal, name: str, why: str) -> None:
        store.access.unlock(
            name, {"at": utc_iso(self.policy.clock()), "actor": actor.name, "via": actor.via, "why": why}
        )

    def add(self, actor: Principal, name: str, role: str, password: str) -> Account:
        self._admin(actor)
        name = check_name(name)
        check_role(role)
        digest = hash_password(password)
        check_writable(self.db_path)
        with AuditStore.open(self.db_path, write=True) as store, store.transaction():
            if current_user(store, name) is not None:
                raise UserError(f"user {name} already exists: change them with `llm-audit users set-role` or `enable`")
            store.users.append(self._change(actor, name, "add", role, False), password_hash=digest)
        return self.get(name)

    def _update(self, actor: Principal, name: str, action: str, *, role: str | None = None, disabled=None) -> Account:
        self._admin(actor)
        name = check_name(name)
        if role is not None:
            check_role(role)
        check_writable(self.db_path)
        with AuditStore.open(self.db_path, write=True) as store, store.transaction():
            now = current_user(store, name)
            if now is None:
                raise NotFound(f"no user {name}: run `llm-audit users list` to see the users")
            new_role = role if role is not None else now.role
            new_disabled = now.disabled if disabled is None else disabled
            if person(actor.name) == name and (new_disabled or new_role != ADMIN) and now.role == ADMIN:
                raise Forbidden(f"{name} cannot remove their own admin rights: ask another admin")
            if (new_role, new_disabled) == (now.role, now.disabled):
                raise UserError(
                    f"user {name} is already {'disabled' if now.disabled else 'enabled'} with the role {now.role}"
                )
            store.users.append(self._change(actor, now.name, action, new_role, new_disabled))
            if action == "enable":  # enabling an account lets its owner in again: earlier failures no longer count
                self._unlock(store, actor, now.name, "enabled")
        return self.get(name)

    def set_role(self, actor: Principal, name: str, role: str) -> Account:
        return self._update(actor, name, "set-role", role=role)

    def disable(self, actor: Principal, name: str) -> Account:
        return self._update(actor, name, "disable", disabled=True)

    def enable(self, actor: Principal, name: str) -> Account:
        return self._update(actor, name, "enable", disabled=False)

    def set_password(self, actor: Principal, name: str, password: str) -> Account:
        """A new password: every session and the API token end, and failed logins no longer hold the name back."""
        self._admin(actor)
        digest = hash_password(password)
        with AuditStore.open(self.db_path, write=True) as store, store.transaction():
            now = self._existing(store, name)
            store.users.append(self._change(actor, now.name, "password", now.role, now.disabled), password_hash=digest)
            self._unlock(store, actor, now.name, "new password")
        return self.get(now.name)

    def unlock(self, actor: Principal, name: str) -> Account:
        """Let ``name`` log in again at once from everywhere (failed logins so far no longer count); logged."""
        self._admin(actor)
        with AuditStore.open(self.db_path, write=True) as store, store.transaction():
            now = self._existing(store, name)
            self._unlock(store, actor, now.name, "unlocked")
        return self.get(now.name)

    def issue_token(self, actor: Principal, name: str) -> str:
        """A new personal API token for ``name`` (replacing any earlier one); shown once, stored as SHA-256."""
        self._admin(actor)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with AuditStore.open(self.db_path, write=True) as store, store.transaction():
            now = self._existing(store, name)
            store.users.set_token(
                self._change(actor, now.name, "token", now.role, now.disabled), uuid7(), token_digest(token)
            )
        return token

    @staticmethod
    def _existing(store: AuditStore, name: str) -> UserChange:
        key = check_name(name)
        now = current_user(store, key)
        if now is None:
            raise NotFound(f"no user {key}: run `llm-audit users list` to see the users")
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

    def _account(self, store: AuditStore, change: UserChange) -> Account:
        first = store.users.first(change.name)
        held: Hold | None = self.logins.held(store, change.name)
        return Account(
            change.name,
            change.role,
            change.disabled,
            first.created_at if first else change.created_at,
            change.created_at,
            store.users.has_token(change.name),
            utc_iso(held.until) if held else None,
            tuple(held.clients) if held else (),
        )

    def principal(self, store: AuditStore, name: str, via: str, generation: str | None = None) -> Principal:
        """The user ``name`` as they are now; 401 if there is no such enabled account, or (``generation``
        given: a web session's) if the account changed since that session began."""
        if not store.users.exists():
            raise Unauthenticated("no such user: log in again")
        key = person(name)
        now = current_user(store, key)
        if now is None or now.disabled:
            raise Unauthenticated(f"the account {key} is disabled or gone: ask an admin")
        current = store.users.generation(now.name)
        if generation is not None and generation != current:
            raise Unauthenticated(
                f"the session ended: the account {key}'s password, role or state changed since it began; log in again"
            )
        return Principal(now.name, now.role, via, current)

    def by_token(self, store: AuditStore, token: str) -> Principal:
        name = store.users.by_token(token_digest(token)) if token.startswith(TOKEN_PREFIX) else None
        if name is None:
            raise Unauthenticated("the API token is not valid: create one with `llm-audit users token NAME`")
        return self.principal(store, name, "api")

    # -- logging in ------------------------------------------------------------------------------
    def login(self, name: str, password: str, *, client: str = "", via: str = "web") -> Principal:
        """Check ``name``'s password, log the login or the failure; refuse with one answer for every name
        (401, or 429 while failed logins hold the name back) until the password is right."""
        key = person(name)
        with AuditStore.open(self.db_path, write=True) as store:  # no transaction: Argon2 must not block writers
            return self.logins.login(store, key, NAME.match(key) is not None, password, client, via)

    def logout(self, principal: Principal, *, client: str = "") -> None:
        with AuditStore.open(self.db_path, write=True) as store:
            store.access.logout(principal.name, {"at": utc_iso(self.policy.clock()), "client": client})
