"""One record's integrity, checked on its own: what the review workspace states on a record page.

``verify`` checks the whole log and takes seconds on a large one; a record page needs to say, in
well under a second, whether *this* record's evidence is intact. For each evidence event about
the record (its generation, explanations, attention passes, replays, sign-offs, findings) this
checks that the stored payload hashes to its ``payload_sha256``, that the leaf hash recomputes,
and that the table row still holds what was logged; then that the Merkle root of the log up to
the latest checkpoint equals the signed root, and that its signature is valid and by a key the
pins vouch for (the keys ``verify`` pins: ``--key``, else the trust file; a pinned key vouches for
its successors through key-transition events). It claims "verified" only when every one of the
record's events is covered by that checkpoint and its signer is pinned; otherwise it says exactly
what is missing.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field

from ..errors import UserError
from ..store import AuditStore
from .canonical import same_content
from .chain import recompute_leaf
from .merkle import MerkleAccumulator
from .signers import pinned_signers
from .signing import VerifyKey, checkpoint_message
from .trust import Pins

_WORDS = {
    "generation": "generation",
    "explanation": "explanation",
    "attention": "attention pass",
    "replay": "replay",
    "review": "sign-off",
    "finding": "finding",
    "assignment": "assignment",
}


@dataclass
class RecordIntegrity:
    state: str  # "verified" | "unverified" | "failed" (the dossier's status classes)
    message: str
    events: int = 0
    covered: int = 0
    problems: list[str] = field(default_factory=list)


class SignedLeaves:
    """The log's leaf hashes up to its latest checkpoint, checked once against the signed root.

    A record page then only compares the record's own recomputed leaves with these: O(its events)
    instead of O(the log). A newer checkpoint extends the checked prefix (only the new leaves are
    read); its root must be the root of the prefix already checked plus those, so a change to an
    older event before the new checkpoint was signed still shows. Kept per server process.
    """

    def __init__(self) -> None:
        self.leaves: list[bytes] = []
        self.acc = MerkleAccumulator()
        self.root_hash: str | None = None
        self._lock = threading.Lock()

    def check(self, store: AuditStore, tree_size: int, root_hash: str) -> list[bytes] | None:
        """The checked leaves for a checkpoint of ``tree_size`` and ``root_hash``; None if the log does not match it."""
        with self._lock:
            if tree_size < len(self.leaves) or (tree_size == len(self.leaves) and root_hash != self.root_hash):
                self.__init__()  # another log, or a rewritten one: check from scratch
            if tree_size > len(self.leaves):
                new = store.events.leaf_hashes(limit=tree_size, after=len(self.leaves))
                acc, leaves = self.acc.copy(), self.leaves + new
                for leaf in new:
                    acc.add(leaf)
                if acc.size != tree_size or acc.root().hex() != root_hash:
                    return None
                self.acc, self.leaves, self.root_hash = acc, leaves, root_hash
            return self.leaves if self.root_hash == root_hash else None


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def check_record(store: AuditStore, record_id: str, pins: Pins, signed: SignedLeaves | None = None) -> RecordIntegrity:
    """The integrity statement of ``record_id`` (an existing record's full id); ``signed``: a cache kept
    across calls (else the whole log up to the checkpoint is re-read)."""
    subjects: list[tuple[str, str]] = [("generation", record_id)]
    for kind, repository in store.evidence.items():
        if kind != "generation":
            subjects += [(kind, subject) for subject in repository.subjects_of(record_id)]
    # Rows logged about the record but no longer in their table (deleted) are found from the log.
    logged = store.events.naming(record_id)
    subjects += [(kind, subject) for kind, subject in logged if (kind, subject) not in set(subjects)]
    problems: list[str] = []
    seqs: list[int] = []
    leaves: dict[int, str] = {}
    kinds: dict[str, int] = {}
    for kind, subject in subjects:
        event = store.events.logged(kind, subject)
        if event is None:
            problems.append(f"{_WORDS.get(kind, kind)} {subject} has no event in the log (row added outside the log)")
            continue
        seqs.append(event.seq)
        leaves[event.seq] = event.leaf_hash
        kinds[kind] = kinds.get(kind, 0) + 1
        if hashlib.sha256(event.payload.encode("utf-8")).hexdigest() != event.payload_sha256:
            problems.append(f"seq {event.seq}: the logged payload does not match its hash (edited)")
        if recompute_leaf(event, store.events.signature_at(event.seq) is not None) != event.leaf_hash:
            problems.append(f"seq {event.seq}: the leaf hash does not match the event (edited)")
        repository = store.evidence[kind]
        try:
            text = repository.payload_text(subject)
            if text != event.payload and not same_content(event.payload, repository.payload(subject)):
                problems.append(f"seq {event.seq}: the {_WORDS.get(kind, kind)} row differs from what was logged")
        except (KeyError, UserError):
            problems.append(f"seq {event.seq}: the {_WORDS.get(kind, kind)} row is missing from its table")
    described = ", ".join(_plural(n, _WORDS.get(k, k)) for k, n in kinds.items())
    total = len(seqs)
    if problems:
        return RecordIntegrity("failed", f"This record FAILED its integrity check: {problems[0]}.", total, 0, problems)
    checkpoint = store.checkpoints.latest()
    if checkpoint is None:
        return RecordIntegrity(
            "unverified",
            f"This record's {total} events ({described}) match their table rows, but no checkpoint has been signed "
            "yet, so nothing proves they are the events first logged: run `llm-audit checkpoint`.",
            total,
        )
    checked = (signed or SignedLeaves()).check(store, checkpoint.tree_size, checkpoint.root_hash)
    if checked is None or any(checked[seq - 1].hex() != leaf for seq, leaf in leaves.items() if seq <= len(checked)):
        return RecordIntegrity(
            "failed",
            f"The log FAILED its integrity check: the events up to seq {checkpoint.tree_size} no longer have the "
            "root signed in the latest checkpoint (events changed, inserted or removed): run `llm-audit verify`.",
            total,
        )
    signer = VerifyKey.from_raw_hex(checkpoint.public_key, f"checkpoint {checkpoint.id}")
    message = checkpoint_message(checkpoint.tree_size, checkpoint.root_hash, checkpoint.signed_at)
    if signer.key_id != checkpoint.key_id or not signer.verify(checkpoint.signature, message):
        return RecordIntegrity(
            "failed",
            f"The latest checkpoint (seq {checkpoint.tree_size}) is not validly signed: run `llm-audit verify`.",
            total,
        )
    pinned = pins.pinned and checkpoint.key_id in pinned_signers(store, pins)
    if pins.pinned and not pinned:
        return RecordIntegrity(
            "failed",
            f"The latest checkpoint (seq {checkpoint.tree_size}) is signed by key {checkpoint.key_id}, which the pinned "
            f"keys ({pins.source}) do not vouch for: run `llm-audit verify`.",
            total,
        )
    covered = sum(seq <= checkpoint.tree_size for seq in seqs)
    where = (
        f"signed checkpoint of {checkpoint.tree_size:,} events ({checkpoint.signed_at[:19]}Z, key {checkpoint.key_id})"
    )
    if not pinned:
        return RecordIntegrity(
            "unverified",
            f"This record's {total} events ({described}) match their table rows and {covered} of them are in the "
            f"{where}, but no trusted key is pinned (UNPINNED): add the log's public key with `llm-audit trust add`, "
            "or start the workspace with --key.",
            total,
            covered,
        )
    if covered < total:
        return RecordIntegrity(
            "unverified",
            f"This record's {total} events ({described}) match their table rows; {covered} are covered by the {where}, "
            f"checked against the pinned key. The newest {total - covered} are not covered by a signed checkpoint yet "
            "(the next automatic checkpoint, or `llm-audit checkpoint`, will cover them).",
            total,
            covered,
        )
    return RecordIntegrity(
        "verified",
        f"Verified: this record's {total} events ({described}) match their table rows and are covered by the {where}, "
        "checked against the pinned key.",
        total,
        covered,
    )
