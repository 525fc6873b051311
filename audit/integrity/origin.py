"""A log's identity: its C2SP origin line and the keys it names, which pick its pins in the trust file.

A database file is not a log: it can be copied, moved or replaced. The log is named by its
origin (``llm-audit/`` and 32 hex digits of its first leaf hash, which every later event commits
to), so trust (:mod:`.trust`), the signing key (:mod:`.key_location`) and witnesses follow the
log wherever its file goes.
"""

from __future__ import annotations

import json

from ..store import AuditStore
from ..store.checkpoints import TRANSITION
from .trust import LogIdentity


def log_identity(store: AuditStore) -> LogIdentity:
    """The log's origin and every key its checkpoints and key transitions name (unverified: only to find its pins)."""
    key_ids = {cp.key_id for cp in store.checkpoints.all()}
    for event in store.events.iter_chain(kind=TRANSITION) if store.events.is_chained() else ():
        try:
            payload = json.loads(event.payload)
            key_ids.update({payload["old_key_id"], payload["new_key_id"]})
        except (ValueError, KeyError, TypeError):
            continue
    return LogIdentity(store.events.origin(), frozenset(str(k) for k in key_ids))


__all__ = ["log_identity"]
