"""The ``checkpoints`` table and its events: signed (tree size, Merkle root, time) statements, append-only.

Since llm-audit 0.2 every checkpoint is also an event of the chain (kind ``checkpoint``), logged
first, in the same transaction, so the checkpoint signs the tree that includes its own event
(tree size = the event's seq). A checkpoint therefore cannot be deleted without the log
noticing: its event would be left without its row (a tampering, found like any evidence row),
and removing the event breaks the chain that later checkpoints sign. Rows written before 0.2
have no event; they stay valid by their signature alone (:meth:`CheckpointRepository.ids`).

Key changes are ``key-transition`` events (no table) signed by the old key and by the new
one (:func:`audit.integrity.signing.transition_message`); the log's current signing key is the
last transition's new key, else the key of its checkpoints.

Before signing, the log's root is recomputed at the size of every earlier checkpoint and
compared with what was signed: a log edited since is refused, so automatic checkpoints can
never sign (launder) a rewritten history. A long-lived writer (``serve``, ``proxy``) keeps the leaves
it has checked or signed and reads only the newer ones: an event edited below that point is then not
refused at signing, but not laundered either, since the new root is computed from the leaves as they
were checked, and ``verify`` finds the edit.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import sqlite_utils

from ..clock import utc_iso
from ..errors import UserError
from ..integrity.chain import event_message, recompute_leaf
from ..integrity.key_location import signing_key_for
from ..integrity.merkle import MerkleAccumulator
from ..integrity.signing import SigningKey, VerifyKey, checkpoint_message
from ..integrity.trust import pin_new_log
from .append_only import append_only
from .database import atomic
from .events import TABLE as EVENTS
from .events import TRANSITION_KIND, EventLog, checkpoint_every, checkpoint_seconds
from .evidence import EvidenceRepository
from .schema import register

TABLE = "checkpoints"
KIND = "checkpoint"
TRANSITION = TRANSITION_KIND
_PAYLOAD_COLUMNS = ("tree_size", "signed_at", "key_id", "public_key")

register(
    "checkpoints",
    1,
    "signed Merkle checkpoints",
    f"""CREATE TABLE {TABLE} (
        id INTEGER PRIMARY KEY,
        tree_size INTEGER NOT NULL,
        root_hash TEXT NOT NULL,
        signed_at TEXT NOT NULL,
        key_id TEXT NOT NULL,
        public_key TEXT NOT NULL,
        signature TEXT NOT NULL
    )""",
    *append_only(TABLE),
)


@dataclass(frozen=True)
class Checkpoint:
    id: int | None
    tree_size: int
    root_hash: str
    signed_at: str
    key_id: str
    public_key: str  # raw 32-byte Ed25519 public key, hex
    signature: str  # hex

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def checkpoint_payload(row: dict[str, Any]) -> dict[str, Any]:
    """The logged content of a checkpoint event: what is known before the root (which includes the event)."""
    return {column: row[column] for column in _PAYLOAD_COLUMNS}


class CheckpointRepository(EvidenceRepository):
    """Sign and read checkpoints: the ``checkpoints`` table and its ``checkpoint`` events."""

    kind = KIND
    table = TABLE

    def __init__(self, db: sqlite_utils.Database, events: EventLog) -> None:
        super().__init__(db, events)
        self._checked: tuple[MerkleAccumulator, str] | None = None  # leaves checked so far, and the last one
        self._event_key: SigningKey | None = None

    def event_key(self) -> SigningKey | None:
        """The key each event is signed with when appended: the log's key (None for an in-memory database).

        Read once per store and kept: a checkpoint signed here refreshes it (after a rotation, the new key).
        """
        if self._event_key is None and self.events.database_file() is not None:
            try:
                self._event_key = self.signing_key()
            except UserError:
                if self.events.any_signed():
                    raise  # a log whose events are signed takes no unsigned one: kept in the pending spool instead
                return None  # a log from before 0.3 whose key is not here: appended as before, unsigned
        return self._event_key

    # -- evidence ---------------------------------------------------------------------------
    def payload(self, subject_id: str) -> dict[str, Any]:
        row = self._row(subject_id)
        if row is None:
            raise KeyError(subject_id)
        return checkpoint_payload(row.to_dict())

    def _row(self, subject_id: str) -> Checkpoint | None:
        if not self.exists() or not str(subject_id).isdigit():
            return None
        found = self.db.execute(f"SELECT {_SELECT} FROM {TABLE} WHERE id = ?", [int(subject_id)]).fetchone()
        return Checkpoint(*found) if found else None

    def ids(self) -> Iterator[str]:
        """Rows that must have an event: every row from the first one logged as an event on (older ones predate 0.2)."""
        if not self.exists() or not self.events.exists():
            return iter(())
        first = self.db.execute(
            f"SELECT MIN(CAST(subject_id AS INTEGER)) FROM {EVENTS} WHERE kind = ?", [KIND]
        ).fetchone()[0]
        if first is None:
            return iter(())
        return (str(row[0]) for row in self.db.execute(f"SELECT id FROM {TABLE} WHERE id >= ? ORDER BY id", [first]))

    def positions(self) -> None:
        """Checkpoint ids are their rows' ids, so an edited id already leaves an event without its row."""
        return None

    # -- reading ----------------------------------------------------------------------------
    def all(self) -> list[Checkpoint]:
        if not self.exists():
            return []
        return [Checkpoint(*row) for row in self.db.execute(f"SELECT {_SELECT} FROM {TABLE} ORDER BY id")]

    def latest(self) -> Checkpoint | None:
        if not self.exists():
            return None
        row = self.db.execute(f"SELECT {_SELECT} FROM {TABLE} ORDER BY tree_size DESC, id DESC LIMIT 1").fetchone()
        return Checkpoint(*row) if row else None

    def signed_size(self) -> int:
        if not self.exists():
            return 0
        return int(self.db.execute(f"SELECT COALESCE(MAX(tree_size), 0) FROM {TABLE}").fetchone()[0])

    def key_ids(self) -> set[str]:
        if not self.exists():
            return set()
        return {row[0] for row in self.db.execute(f"SELECT DISTINCT key_id FROM {TABLE}")}

    def current_key_id(self) -> str | None:
        """The key the next checkpoint must be signed with: the last transition's new key, else the latest checkpoint's."""
        latest = self.latest()
        transition = self.last_transition()
        if transition is not None and (latest is None or transition[0] > latest.tree_size):
            return transition[1]["new_key_id"]
        return latest.key_id if latest else None

    def last_transition(self) -> tuple[int, dict[str, Any]] | None:
        row = self.events.last_transition()
        return (int(row[0]), json.loads(row[1])) if row else None

    # -- signing ----------------------------------------------------------------------------
    def signing_key(self) -> SigningKey:
        """This database's signing key (created in the key directory on first use), refused if it is not the log's."""
        file = self.events.database_file()
        if file is None:
            raise UserError("an in-memory database has no signing key: pass one to sign()")
        return signing_key_for(file, None, self.current_key_id(), self.events.origin())[0]

    def sign(self, key: SigningKey | None = None) -> Checkpoint:
        """Log a checkpoint event and sign the tree that ends with it, in one transaction (the caller's or its own)."""
        with atomic(self.db.conn):
            if key is None:
                key = self.signing_key()
            expected = self.current_key_id()
            if expected is not None and key.key_id != expected:
                raise UserError(
                    f"key {key.source} (id {key.key_id}) is not this log's signing key (key id {expected}): "
                    "pass the right --signing-key (changing keys is `llm-audit rotate-key`)"
                )
            first = self.latest() is None
            acc = self._leaves_checked()
            self._signatures_checked(key)
            self.events.signed_here.clear()  # covered from now on (or rolled back with this checkpoint)
            next_id = int(self.db.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {TABLE}").fetchone()[0])
            row = {"tree_size": acc.size + 1, "signed_at": utc_iso(), "key_id": key.key_id, "public_key": key.raw.hex()}
            seq = self.events.append(KIND, str(next_id), checkpoint_payload(row), auto_checkpoint=False, key=key)
            self._event_key = key
            if seq != row["tree_size"]:
                raise RuntimeError(f"checkpoint event landed at seq {seq}, expected {row['tree_size']}")
            leaf = self.events.at(seq).leaf_hash
            acc.add(bytes.fromhex(leaf))
            self._checked = (acc.copy(), leaf)
            root = acc.root().hex()
            signature = key.sign(checkpoint_message(seq, root, row["signed_at"]))
            made = Checkpoint(next_id, seq, root, row["signed_at"], key.key_id, row["public_key"], signature)
            self._insert(made.to_dict())
            if self.events.database_file() is not None:  # a new log: pinned to its first key (first use)
                signer = VerifyKey.from_raw_hex(made.public_key, "the log's key")
                pin_new_log(str(self.events.origin()), signer, first=first)  # later: a 0.2 key pin migrates
            return made

    def _leaves_checked(self) -> MerkleAccumulator:
        """The log's leaves so far, with the root at every earlier checkpoint's size compared to what was signed."""
        acc, start = self._resume()
        signed = (
            {
                cp.tree_size: cp
                for cp in (
                    Checkpoint(*row)
                    for row in self.db.execute(f"SELECT {_SELECT} FROM {TABLE} WHERE tree_size > ?", [start])
                )
            }
            if self.exists()
            else {}
        )
        for (leaf,) in self.db.execute(f"SELECT leaf_hash FROM {EVENTS} WHERE seq > ? ORDER BY seq", [start]):
            acc.add(bytes.fromhex(leaf))
            cp = signed.get(acc.size)
            if cp is not None and acc.root().hex() != cp.root_hash:
                raise UserError(
                    f"the log no longer matches checkpoint {cp.id} (tree size {cp.tree_size}, signed {cp.signed_at}): "
                    "events were changed after they were signed, so nothing was signed; run `llm-audit verify`"
                )
        missing = [size for size in signed if size > acc.size]
        if missing:
            raise UserError(
                f"the log has {acc.size} events but a checkpoint covers {max(missing)}: it was truncated, so nothing was "
                "signed; run `llm-audit verify`"
            )
        return acc

    def _resume(self) -> tuple[MerkleAccumulator, int]:
        """The leaves this repository already checked, if the log still ends them the same way; else none."""
        if self._checked is not None:
            acc, leaf = self._checked
            found = self.db.execute(f"SELECT leaf_hash FROM {EVENTS} WHERE seq = ?", [acc.size]).fetchone()
            if found is not None and found[0] == leaf:
                return acc.copy(), acc.size
        return MerkleAccumulator(), 0

    def _signatures_checked(self, key: SigningKey) -> None:
        """Every event the checkpoint is about to cover for the first time carries a valid signature by ``key`` (the
        log's key): an event appended without the key (a forged sign-off, tombstone or release at the tail) is named
        and nothing is signed. Unsigned events are accepted only in a log none of whose events is signed (appended
        before 0.3)."""
        signed = self.signed_size()
        legacy = not self.events.any_signed()
        # Events up to a key transition were written with the key it retires; later ones with the signing key.
        handovers = [
            (event.seq, VerifyKey.from_raw_hex(json.loads(event.payload)["old_public_key"], "the retired key"))
            for event in self.events.iter_chain(kind=TRANSITION)
            if event.seq > signed
        ]
        final = VerifyKey.from_raw_hex(key.raw.hex(), "the signing key")
        mine = self.events.signed_here
        for seq, signature in self.events.signatures(after=signed):
            if signature is None and legacy:
                continue
            verifier = next((old for at, old in handovers if seq <= at), final)
            event = self.events.at(seq)
            why = None
            if signature is None:
                why = "carries no signature, but the log's events are signed when they are written"
            elif recompute_leaf(event, signed=True) != event.leaf_hash:
                why = "does not match its leaf hash"
            elif mine.get(seq) == (event.leaf_hash, signature, verifier.key_id):
                pass  # signed by this connection with that key, over this very leaf: nothing to verify
            elif not verifier.verify(signature, event_message(event.leaf_hash)):
                why = f"is not signed by the log's key {verifier.key_id}"
            if why is not None:
                raise UserError(
                    f"event seq {seq} ({event.kind} {event.subject_id}) {why}: it was not written by llm-audit with this "
                    "log's key, so nothing was signed; run `llm-audit verify`"
                )

    def sign_if_due(self, seq: int) -> Checkpoint | None:
        """The automatic rule, after each append: sign when ``checkpoint_every()`` events, or events older than
        ``checkpoint_seconds()``, are not yet covered."""
        every = checkpoint_every()
        if not every or self.events.database_file() is None:
            return None
        signed = self.signed_size()
        unsigned = seq - signed
        if unsigned <= 0:
            return None
        due = unsigned >= every
        seconds = checkpoint_seconds()
        if not due and seconds:
            oldest = self.events.at(signed + 1).created_at
            age = datetime.now(UTC) - datetime.fromisoformat(oldest.replace("Z", "+00:00"))
            due = age.total_seconds() >= seconds
        return self.sign() if due else None

    def sign_tail(self, key: SigningKey | None = None) -> Checkpoint | None:
        """Sign now if any event is not yet covered (what batch commands do when they finish)."""
        if self.events.count() > self.signed_size():
            return self.sign(key)
        return None

    # -- key transitions --------------------------------------------------------------------
    def append_transition(self, payload: dict[str, Any], key: SigningKey | None = None) -> int:
        """Log a key-transition statement (built and signed by :mod:`audit.integrity.keys`); its seq."""
        return self.events.append(TRANSITION, payload["new_key_id"], payload, auto_checkpoint=False, key=key)


_SELECT = "id, tree_size, root_hash, signed_at, key_id, public_key, signature"
