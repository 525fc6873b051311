"""Who may sign at each point of the log: the key-transition and pinning rules of ``verify``.

The log's key is its first signer, changed only by a key-transition event signed by the key it
retires and by the new one, tied to the leaf before it. A pinned key (``--key`` or the trust file)
vouches for the key it hands over to. :func:`pinned_signers` applies the same rules without walking
the whole log, for the review workspace's record page (:mod:`.record_check`).
"""

from __future__ import annotations

import json

from ..errors import UserError
from ..store import AuditStore
from ..store.checkpoints import TRANSITION, Checkpoint
from .chain import GENESIS
from .results import Cover, ProblemLog, VerifyResult
from .signing import VerifyKey, checkpoint_message, transition_message
from .trust import Pins


class LogSigners:
    """Who may sign at each point of the log: its key (first signer, changed only by transitions) and the pinned ones."""

    def __init__(self, pins: Pins, report: ProblemLog) -> None:
        self.report = report
        self.log_key: VerifyKey | None = None
        self.pinned_ids = set(pins.key_ids)
        self.seen_keys: dict[str, VerifyKey] = {k.key_id: k for k in pins.keys}

    def transition(self, seq: int, subject_id: str, payload_text: str, prev_leaf: str) -> None:
        """Check a key-transition event and, if valid, hand the log over to its new key."""
        try:
            p = json.loads(payload_text)
            old = VerifyKey.from_raw_hex(p["old_public_key"], "the old key")
            new = VerifyKey.from_raw_hex(p["new_public_key"], "the new key")
            message = transition_message(p["old_key_id"], p["new_public_key"], p["prev_leaf_hash"])
            problem = None
            if old.key_id != p["old_key_id"] or new.key_id != p["new_key_id"] or subject_id != new.key_id:
                problem = "its key ids do not match its public keys"
            elif self.log_key is not None and old.key_id != self.log_key.key_id:
                problem = f"it hands over from key {old.key_id}, but the log's key is {self.log_key.key_id}"
            elif p["prev_leaf_hash"] != prev_leaf:
                problem = "it names another position of the log than its own (copied from elsewhere)"
            elif not old.verify(p["old_signature"], message):
                problem = f"it is not signed by the key it retires ({old.key_id})"
            elif not new.verify(p["new_signature"], message):
                problem = f"it is not signed by the new key ({new.key_id})"
        except (KeyError, TypeError, ValueError, UserError) as exc:
            problem = f"it is malformed ({type(exc).__name__})"
        if problem is not None:
            self.report.add("checkpoint-key", seq, f"key-transition to {subject_id} is not valid: {problem}")
            return
        if old.key_id in self.pinned_ids:
            self.pinned_ids.add(new.key_id)  # a pinned key vouches for its successor
        self.seen_keys[old.key_id], self.seen_keys[new.key_id] = old, new
        self.log_key = new

    def check(self, cp: Checkpoint, root: bytes) -> Cover | None:
        """Report what is wrong with ``cp`` against the log's ``root`` at its size; its cover if valid."""
        report, before = self.report, self.report.seen
        label = f"checkpoint {cp.id} (tree size {cp.tree_size}, signed {cp.signed_at})"
        if root.hex() != cp.root_hash:
            report.add(
                "checkpoint-root",
                cp.tree_size,
                f"{label}: Merkle root of the log differs from the signed root (table checkpoints column root_hash): events at or before seq {cp.tree_size} were changed, inserted, removed or re-chained",
            )
        try:
            key = VerifyKey.from_raw_hex(cp.public_key, f"checkpoint {cp.id}")
        except UserError:
            report.add("checkpoint-signature", cp.tree_size, f"{label}: its public key is not an Ed25519 key")
            return None
        if key.key_id != cp.key_id:
            report.add(
                "checkpoint-signature", cp.tree_size, f"{label}: key id {cp.key_id} does not match its public key"
            )
        elif not key.verify(cp.signature, checkpoint_message(cp.tree_size, cp.root_hash, cp.signed_at)):
            report.add(
                "checkpoint-signature",
                cp.tree_size,
                f"{label}: Ed25519 signature (table checkpoints column signature) is not valid for its size, root and time",
            )
        elif self.log_key is None:
            self.log_key = key  # the log's first signer is its key until a transition says otherwise
        elif key.key_id != self.log_key.key_id:
            report.add(
                "checkpoint-key",
                cp.tree_size,
                f"{label}: signed by key {cp.key_id}, but the log's key at that point is {self.log_key.key_id} and no "
                f"key-transition signed by it hands over to {cp.key_id} (a checkpoint re-signed or added with a foreign key)",
            )
        if report.seen != before:
            return None
        self.seen_keys.setdefault(key.key_id, key)
        return Cover(int(cp.id or 0), cp.tree_size, cp.key_id, cp.signed_at, cp.key_id in self.pinned_ids)


def pinned_signers(store: AuditStore, pins: Pins) -> set[str]:
    """The key ids a checkpoint may be signed by to count as pinned: the pinned keys and, through valid
    key-transition events, their successors (a pinned key vouches for the key it hands over to).

    For checks of one record that do not walk the whole log (the review workspace's record page);
    :func:`verify_store` applies the same rule in its single pass.
    """
    keys = LogSigners(pins, ProblemLog(VerifyResult(database=str(store.path))))
    for event in store.events.iter_chain(kind=TRANSITION):
        prev_leaf = store.events.at(event.seq - 1).leaf_hash if event.seq > 1 else GENESIS.hex()
        keys.transition(event.seq, event.subject_id, event.payload, prev_leaf)
    return keys.pinned_ids


def check_pinning(result: VerifyResult, pins: Pins, report: ProblemLog) -> None:
    if not pins.pinned or result.pinned_size:
        return
    pinned = ", ".join(sorted(pins.key_ids))
    if not result.checkpoints:
        report.add(
            "pinning",
            None,
            f"the log has no checkpoint at all, but verification is pinned to key {pinned} ({pins.source}): its checkpoints "
            "were removed (a new log is signed automatically within 10 events; `llm-audit checkpoint` signs now)",
        )
        return
    signers = ", ".join(sorted({c.key_id for c in result.covers})) or "no valid key"
    report.add(
        "pinning",
        None,
        f"no checkpoint of this log is signed by the pinned key {pinned} ({pins.source}); its checkpoints are signed by "
        f"{signers}: they were re-signed with another key or this is not the log you trust",
    )
