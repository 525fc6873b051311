"""Logging in: one answer for every name until the password is right, and failures throttled with back-off.

Wrong passwords are throttled twice, each with exponential back-off (a wait that doubles with
every further failure, up to ``cap``), never a fixed lockout:

- per name *and* address (``per_address``): the guesses one client makes at one name. Users
  behind the same address (an office, a reverse proxy) are never held up by someone else's
  typos, because the key includes the name;
- per name from every address (``per_account``), at a higher threshold: a guesser spread over
  many addresses. It never holds against the address the account last logged in from, so a
  stranger cannot keep a known user out of their own desk.

A name that is no account is throttled exactly like one that is (the same counts, message and
``Retry-After``), and while a name is held back its password is not checked at all, so neither
the answer nor its timing says whether the name exists or is disabled; a wrong name costs one
Argon2 verification of a dummy hash, like a wrong password. Only the right password of a
disabled account is told that it is disabled.

For accounts the counts are read back from the ``login``/``login-failed``/``unlock`` events
(:mod:`audit.store.access`), so they hold across restarts and an admin's unlock from the command
line (``llm-audit users unlock``, or a new password, or ``enable``) reaches a running server.
Names that are no account are counted in the server's memory only (the log keeps no name for
them: it may be a password typed in the wrong box).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from ..clock import utc_iso
from ..store import AuditStore
from ..store.access import LOGIN, LOGIN_FAILED, UNLOCK
from .errors import Locked, Unauthenticated
from .names import current_user
from .roles import Principal

WRONG = "wrong user name or password"
# Argon2id with the library's defaults (RFC 9106's second recommended option: 64 MiB, t=3, p=4).
HASHER = PasswordHasher(type=Type.ID)
# Compared against when the name is unknown, so a wrong name costs as long as a wrong password.
DUMMY_HASH = HASHER.hash("llm-audit: no such user")
HISTORY = 400  # events read back per account: more than any back-off needs
UNKNOWN_HISTORY = 64  # attempts kept in memory per name that is no account (the waits reach their cap well before)


@dataclass(frozen=True)
class Backoff:
    """After ``free`` failures in a row, wait ``base`` seconds, doubled with each further one, at most ``cap``."""

    free: int
    base: float
    cap: float

    def wait(self, failures: int) -> float:
        if failures < self.free:
            return 0.0
        return min(self.cap, self.base * 2.0 ** min(failures - self.free, 60))


@dataclass(frozen=True)
class LoginPolicy:
    per_address: Backoff = Backoff(free=5, base=30.0, cap=3600.0)
    per_account: Backoff = Backoff(free=20, base=30.0, cap=3600.0)
    clock: Callable[[], float] = time.time  # seconds since the epoch; tests move it


@dataclass(frozen=True, slots=True)
class Attempt:
    """One event of a name's login history, as the back-off reads it."""

    kind: str  # "login" | "login-failed" | "unlock"
    at: float
    client: str
    reason: str = ""  # of a failed login: "password" (counts), "locked", "disabled", "unknown user"


@dataclass
class Hold:
    """Why a name is held back now: until when, and from which addresses (``"*"``: every other address)."""

    until: float
    clients: list[str] = field(default_factory=list)


def hold(history: Iterable[Attempt], client: str | None, now: float, policy: LoginPolicy) -> Hold | None:
    """Whether a login for the name with ``history`` (newest first) from ``client`` must wait, and until when.

    ``client`` None: from any address (what the users list shows). Counting stops at an unlock;
    a successful login ends the count of its own address and of the account as a whole.
    """
    per_client: dict[str, list[float]] = {}
    closed: set[str] = set()
    account: list[float] = []
    account_open = True
    home: str | None = None  # the address of the latest successful login
    for attempt in history:
        if attempt.kind == UNLOCK:
            break
        if attempt.kind == LOGIN:
            if home is None:
                home = attempt.client
            account_open = False
            closed.add(attempt.client)
            continue
        if attempt.kind != LOGIN_FAILED or attempt.reason not in ("password", "unknown user"):
            continue
        if account_open:
            account.append(attempt.at)
        if attempt.client not in closed:
            per_client.setdefault(attempt.client, []).append(attempt.at)
    holds: list[tuple[float, str]] = []
    for address, failures in per_client.items():
        until = failures[0] + policy.per_address.wait(len(failures))
        if until > now and (client is None or client == address):
            holds.append((until, address))
    if account:
        until = account[0] + policy.per_account.wait(len(account))
        if until > now and (client is None or client != home):
            holds.append((until, "*"))
    if not holds:
        return None
    return Hold(max(u for u, _ in holds), sorted({a for _, a in holds}))


def locked(until: float, now: float) -> Locked:
    """The one answer for a name held back, whatever the name (an account or not, enabled or not)."""
    wait = max(1, int(until - now + 0.999))
    return Locked(
        f"too many failed logins for this name: wait {wait} s (until {utc_iso(until)[:19]}Z UTC) and try again, "
        "or ask an admin to unlock the account",
        wait,
    )


def verify(stored: str, password: object) -> bool:
    try:
        return HASHER.verify(stored, password if isinstance(password, str) else "")
    except (VerificationError, InvalidHashError):
        return False


def _epoch(iso: str) -> float:
    try:
        return datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()
    except (TypeError, ValueError):
        return 0.0


def account_history(store: AuditStore, name: str) -> list[Attempt]:
    """``name``'s login history from the log, newest first."""
    return [
        Attempt(kind, _epoch(str(p.get("at"))), str(p.get("client", "")), str(p.get("reason", "")))
        for kind, _, p in store.access.recent_logins(name, HISTORY)
    ]


class UnknownNames:
    """Failed logins for names that are no account, kept in memory (the newest ``size`` names)."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._seen: OrderedDict[str, list[Attempt]] = OrderedDict()
        self._lock = threading.Lock()

    def history(self, name: str) -> list[Attempt]:
        with self._lock:
            return list(self._seen.get(name, ()))

    def failed(self, name: str, attempt: Attempt) -> None:
        with self._lock:
            attempts = self._seen.pop(name, [])
            self._seen[name] = [attempt, *attempts][:UNKNOWN_HISTORY]
            while len(self._seen) > self.size:
                self._seen.popitem(last=False)


class Logins:
    """Checks a name and password against one database, logging every attempt."""

    def __init__(self, policy: LoginPolicy) -> None:
        self.policy = policy
        self.unknown = UnknownNames()

    def login(self, store: AuditStore, key: str, known: bool, password: str, client: str, via: str) -> Principal:
        """``key``: the normalised name; ``known``: whether it is a well-formed name (else no account has it)."""
        now = self.policy.clock()
        at = utc_iso(now)
        change = current_user(store, key) if known and store.users.exists() else None
        history = account_history(store, change.name) if change is not None else self.unknown.history(key)
        held = hold(history, client, now, self.policy)
        if held is not None:
            store.access.login_failed(
                change.name if change else None, {"at": at, "reason": "locked", "client": client, "via": via}
            )
            raise locked(held.until, now)
        stored = (store.users.password_hash(change.name) if change is not None else None) or DUMMY_HASH
        if not verify(stored, password) or change is None:
            reason = "password" if change is not None else "unknown user"
            store.access.login_failed(
                change.name if change else None, {"at": at, "reason": reason, "client": client, "via": via}
            )
            attempt = Attempt(LOGIN_FAILED, now, client, reason)
            if change is None:
                self.unknown.failed(key, attempt)
            held = hold([attempt, *history], client, now, self.policy)
            if held is not None:
                raise locked(held.until, now)
            raise Unauthenticated(WRONG)
        if change.disabled:
            store.access.login_failed(change.name, {"at": at, "reason": "disabled", "client": client, "via": via})
            raise Unauthenticated(f"the account {change.name} is disabled: ask an admin to enable it")
        if HASHER.check_needs_rehash(stored):
            store.users.rehash(change.name, HASHER.hash(password), at)
        store.access.login(change.name, {"at": at, "role": change.role, "client": client, "via": via})
        return Principal(change.name, change.role, via, store.users.generation(change.name))

    def held(self, store: AuditStore, name: str) -> Hold | None:
        """Whether ``name`` is held back now from some address (the users list's "locked")."""
        return hold(account_history(store, name), None, self.policy.clock(), self.policy)
