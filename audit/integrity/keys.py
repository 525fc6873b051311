"""Which key a command uses, and the operations that need the private key: sign, rotate, export.

Signing and checking are :mod:`.signing`'s job and where key files live is
:mod:`.key_location`'s; this module decides *which* key file a command uses and signs through
the store, so the choice lives in one place for ``checkpoint``, ``rotate-key``, batch commands
and the demo. Every operation first reads the log read-only, so a wrong key is refused before
anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..clock import utc_iso
from ..errors import UserError
from ..store import AuditStore
from ..store.checkpoints import Checkpoint
from .key_location import KeyChoice, default_key_path, log_key_path, signing_key_for
from .note import checkpoint_body, origin_of, sign_note
from .signing import SigningKey, create_key, load_signing_key, transition_message


def signing_key(db_path: Path, key: str | Path | None = None) -> tuple[SigningKey, KeyChoice]:
    """The log's signing key (created in the key directory on first use) and where it came from."""
    expected = origin = None
    if db_path.exists():
        with AuditStore.open(db_path) as store:
            expected, origin = store.checkpoints.current_key_id(), store.events.origin()
    return signing_key_for(db_path, key, expected, origin)


def sign_checkpoint(db_path: Path, key: str | Path | None = None) -> Checkpoint:
    """Sign the log's current size and root now (a checkpoint event, then its signature)."""
    signing, _ = signing_key(db_path, key)
    with AuditStore.open(db_path, write=True) as store:
        return store.checkpoints.sign(signing)


def sign_tail(db_path: Path) -> Checkpoint | None:
    """What every batch command does when it finishes: sign if any event is not yet covered."""
    with AuditStore.open(db_path) as store:
        if store.events.count() <= store.checkpoints.signed_size():
            return None
    return sign_checkpoint(db_path)


@dataclass(frozen=True)
class Rotation:
    old_key_id: str
    new_key_id: str
    new_key_file: Path
    transition_seq: int
    checkpoint: Checkpoint
    retired_key_file: Path | None  # where the old default key was moved, if it was the default one


def rotate_key(db_path: Path, key: str | Path | None = None, new_key: str | Path | None = None) -> Rotation:
    """Hand the log over to a new signing key: a key-transition event signed by both keys, then a checkpoint by the new one.

    ``new_key``: the new key file (created, mode 0600, if missing). Without it a new key takes
    the default place of this database's key and the old one is kept beside it as
    ``<name>.retired-<old id>.key`` (still needed to check nothing, but kept: a key is evidence).
    """
    old, choice = signing_key(db_path, key)
    with AuditStore.open(db_path) as store:
        origin = store.events.origin()
        if store.checkpoints.current_key_id() is None:
            raise UserError(
                "this log has no signing key yet: run `llm-audit checkpoint` first, there is nothing to rotate"
            )
    retired = None
    if new_key is not None:
        target = Path(new_key)
        fresh = load_signing_key(target) if target.exists() else create_key(target)
    else:
        if not choice.in_key_dir:
            raise UserError(
                f"the signing key {choice.path} was given by {choice.origin}: pass --new-key FILE for its successor"
            )
        target = log_key_path(origin) if origin else choice.path  # the successor is found by the log's name
        retired = target.with_name(f"{target.stem}.retired-{old.key_id}.key")
        staging = target.with_name(f".{target.name}.new")
        staging.unlink(missing_ok=True)
        fresh = create_key(staging)
    if fresh.key_id == old.key_id:
        raise UserError(f"the new key is the current key ({old.key_id}): pass a different --new-key")
    with AuditStore.open(db_path, write=True) as store, store.transaction():
        last = store.events.count()
        prev = store.events.at(last).leaf_hash if last else "0" * 64
        message = transition_message(old.key_id, fresh.raw.hex(), prev)
        payload = {
            "old_key_id": old.key_id,
            "old_public_key": old.raw.hex(),
            "new_key_id": fresh.key_id,
            "new_public_key": fresh.raw.hex(),
            "prev_leaf_hash": prev,
            "at": utc_iso(),
            "old_signature": old.sign(message),
            "new_signature": fresh.sign(message),
        }
        seq = store.checkpoints.append_transition(payload, old)  # written, like every event, with the log's key
        made = store.checkpoints.sign(fresh)
    if new_key is None:
        for alias in {choice.path, target, default_key_path(db_path)}:  # every name the old key had in the directory
            if alias.exists() and alias != choice.path and load_signing_key(alias).key_id == old.key_id:
                alias.unlink()
        choice.path.rename(retired)  # type: ignore[union-attr]
        staging.rename(target)
    return Rotation(old.key_id, fresh.key_id, target, seq, made, retired)


def export_checkpoint(db_path: Path, output: Path, key: str | Path | None = None) -> tuple[Checkpoint, str]:
    """Sign a checkpoint now and write it to ``output`` as a C2SP signed note; the note's text."""
    made = sign_checkpoint(db_path, key)
    signing, _ = signing_key(db_path, key)
    with AuditStore.open(db_path) as store:
        origin = origin_of(store.events.at(1).leaf_hash)
    body = checkpoint_body(origin, made.tree_size, bytes.fromhex(made.root_hash))
    note = sign_note(body, origin, signing)
    try:
        output.write_text(note, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot write {output}: {exc.strerror}: pass another --export path") from None
    return made, note
