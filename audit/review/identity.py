"""Who is acting on the workspace: a web session's user, a personal token's, the CLI's operator.

A role is never taken from a cookie or a command line but read from the store on each request,
so disabling a user or changing a role takes effect at once. User changes from the command line
act as :class:`LocalAdmin`: whoever can write the database file administers its users (that is
how the first admin is made), and each change is logged under the operator's name, via ``cli``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..store import AuditStore
from .accounts import Account, Accounts
from .errors import Forbidden
from .roles import Principal


class Identity:
    """Principals of one audit database, read from its users at the moment of the request."""

    def __init__(self, db_path: Path, accounts: Accounts) -> None:
        self.db_path = db_path
        self.accounts = accounts

    def session_user(self, name: str, via: str = "web", generation: str | None = None) -> Principal:
        """``generation``: a web session's (the account's when it logged in); refused once the account changed."""
        with AuditStore.open(self.db_path) as store:
            return self.accounts.principal(store, name, via, generation)

    def token_user(self, token: str) -> Principal:
        with AuditStore.open(self.db_path) as store:
            return self.accounts.by_token(store, token)

    def cli_user(self, operator: str) -> Principal:
        """The CLI's operator as a workspace user: a CLI sign-off needs a registered, enabled account."""
        try:
            return self.session_user(operator, "cli")
        except UserError:
            raise Forbidden(
                f"the operator {operator!r} is not an enabled workspace user: add them with "
                f"`llm-audit users add {operator} --role reviewer`, or pass --operator with your user name"
            ) from None

    def local_admin(self, operator: str) -> LocalAdmin:
        return LocalAdmin(self.accounts, Principal(operator, "admin", "cli"))


@dataclass(frozen=True)
class LocalAdmin:
    """User changes made by whoever holds the database file (``llm-audit users ...``), logged as ``actor``."""

    accounts: Accounts
    actor: Principal

    def add(self, name: str, role: str, password: str) -> Account:
        return self.accounts.add(self.actor, name, role, password)

    def set_role(self, name: str, role: str) -> Account:
        return self.accounts.set_role(self.actor, name, role)

    def disable(self, name: str) -> Account:
        return self.accounts.disable(self.actor, name)

    def enable(self, name: str) -> Account:
        return self.accounts.enable(self.actor, name)

    def set_password(self, name: str, password: str) -> Account:
        return self.accounts.set_password(self.actor, name, password)

    def unlock(self, name: str) -> Account:
        return self.accounts.unlock(self.actor, name)

    def issue_token(self, name: str) -> str:
        return self.accounts.issue_token(self.actor, name)
