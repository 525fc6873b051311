"""Sealed content in a pack: the ciphertext the log holds, unless the policy lets the exporter's role open it.

A record sealed under a privacy policy is logged with its clear content encrypted (AES-256-GCM, bound to
the record and field). Exported as logged, it stays sealed. Where the policy's ``[access] clear_roles``
names the role the exporter acts in, ``--open-sealed`` adds each selected record's data key to the pack:
the recipient can then open the logged ciphertext, and the verifier proves the clear content is exactly
what was sealed (GCM authenticates it). An erased record's key is destroyed, so it stays sealed whatever
the policy says; its tombstone is in the pack.
"""

from __future__ import annotations

from ..errors import UserError
from ..privacy.guard import PrivacyGuard
from ..privacy.keystore import KeyMissing
from .collect import Collected


def data_keys(guard: PrivacyGuard, found: Collected, role: str) -> dict[str, bytes]:
    """record id -> data key of each selected sealed record that still has one; refused unless the role may see it."""
    policy = guard.policy
    if policy is None or role not in policy.clear_roles:
        allowed = ", ".join(policy.clear_roles) if policy is not None and policy.clear_roles else "no role"
        raise UserError(
            f"the privacy policy lets {allowed} see sealed content, not role {role!r}: nothing was exported; "
            "leave out --open-sealed (sealed content is then exported sealed) or pass --policy with the policy in force"
        )
    keys = {}
    for rid, seq in found.records.items():
        tags = found.payloads[seq].get("tags")
        privacy = tags.get("privacy") if isinstance(tags, dict) else None
        if not (isinstance(privacy, dict) and privacy.get("sealed") is True):
            continue
        try:
            keys[rid] = guard.record_key(rid, tags)
        except KeyMissing:
            continue  # erased (or never in this key store): it stays sealed
    return keys
