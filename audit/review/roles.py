"""Roles and what each may do: viewer < reviewer < validator < admin, each with everything below it.

- viewer: reads the queue, the records, the dossiers and the summary.
- reviewer: also signs off records (accept or override), adds findings, and takes records (assigns them
  to themselves, or gives back their own).
- validator: also requests explanations, attention passes, replays and counterfactuals, resolves
  findings, assigns records to any reviewer, and exports the records list as an evidence pack.
- admin: also manages users.

Who may see sealed content in clear is the privacy policy's decision (``[access] clear_roles``),
not the role ladder's: by default nobody.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import Forbidden

VIEWER, REVIEWER, VALIDATOR, ADMIN = "viewer", "reviewer", "validator", "admin"
ROLES = (VIEWER, REVIEWER, VALIDATOR, ADMIN)

READ = "read"
SIGN_OFF = "sign-off"
ADD_FINDING = "add-finding"
RESOLVE_FINDING = "resolve-finding"
REQUEST_JOB = "request-job"
ASSIGN = "assign"  # to oneself; to another user needs ASSIGN_OTHERS
ASSIGN_OTHERS = "assign-others"
MANAGE_USERS = "manage-users"
EXPORT_PACK = "export-pack"

MINIMUM_ROLE = {
    READ: VIEWER,
    SIGN_OFF: REVIEWER,
    ADD_FINDING: REVIEWER,
    RESOLVE_FINDING: VALIDATOR,
    REQUEST_JOB: VALIDATOR,
    ASSIGN: REVIEWER,
    ASSIGN_OTHERS: VALIDATOR,
    MANAGE_USERS: ADMIN,
    EXPORT_PACK: VALIDATOR,
}
ACTIONS = tuple(MINIMUM_ROLE)
_WORDS = {
    READ: "read records",
    SIGN_OFF: "sign off records",
    ADD_FINDING: "add findings",
    RESOLVE_FINDING: "resolve findings",
    REQUEST_JOB: "request explanations, attention passes, replays or counterfactuals",
    ASSIGN: "take records for review",
    ASSIGN_OTHERS: "assign records to other users",
    MANAGE_USERS: "manage users",
    EXPORT_PACK: "export evidence packs",
}


@dataclass(frozen=True)
class Principal:
    """Who is acting, with the role they hold *now* (read from the store on every request), and how."""

    name: str
    role: str
    via: str  # "web" | "api" | "cli"
    # The account's session generation when this was read (see ``UserRepository.generation``): a web
    # session carries the one of its login, and stops working when the account's changes this.
    generation: str = field(default="", compare=False)


def check_role(role: str) -> str:
    if role not in ROLES:
        from ..errors import UserError

        raise UserError(f"unknown role {role!r}: choose one of {', '.join(ROLES)}")
    return role


def allowed(role: str, action: str) -> bool:
    return role in ROLES and ROLES.index(role) >= ROLES.index(MINIMUM_ROLE[action])


def require(principal: Principal, action: str) -> None:
    """Refuse (403) unless ``principal``'s role may do ``action``."""
    if not allowed(principal.role, action):
        needed = MINIMUM_ROLE[action]
        raise Forbidden(
            f"{principal.name} has the role {principal.role}, which may not {_WORDS[action]}: "
            f"that needs the role {needed} or higher (an admin can change it with `llm-audit users set-role`)"
        )


def permissions(role: str) -> dict[str, bool]:
    """Action -> whether ``role`` may do it (what the pages show as controls)."""
    return {action: allowed(role, action) for action in ACTIONS}
