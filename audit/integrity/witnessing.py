"""The log's side of witnessing: hand a fresh checkpoint and its consistency proof to a witness, keep
what it cosigned, and (in ``verify``) hold the log to the cosigned checkpoints.

Cosigned notes are kept beside the database, in ``<db>.witnessed/`` (one note a file), not in it:
the store is the only place that writes SQL, and a note stored as evidence would itself be a new
event after the checkpoint it vouches for. Keeping them apart costs nothing in safety: a writer who
truncates the database and deletes the folder too is caught by ``verify --witnesses N`` (no
cosigned checkpoint left) and by the witness, which will never cosign the shorter log.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..store import AuditStore
from ..store.checkpoints import Checkpoint
from .cosignature import WitnessKey, cosignatures
from .keys import sign_checkpoint, signing_key
from .merkle import MerkleTree
from .note import NoteCheckpoint, checkpoint_body, origin_of, parse_note, sign_note
from .results import ProblemLog, VerifyResult
from .witness import Proof, Witness, WitnessRefusal


def witnessed_folder(db_path: Path) -> Path:
    return Path(str(db_path) + ".witnessed")


@dataclass(frozen=True)
class Witnessed:
    witness: str
    tree_size: int
    old_size: int
    path: Path
    checkpoint: Checkpoint

    def to_dict(self) -> dict[str, object]:
        return {"witness": self.witness, "tree_size": self.tree_size, "old_size": self.old_size, "note": str(self.path)}


def checkpoint_with_witness(db_path: Path, target: str | Path, key: str | Path | None = None) -> Witnessed:
    """Sign a checkpoint now, prove it extends what the witness (a folder or a URL) last cosigned, keep the cosigned note."""
    made = sign_checkpoint(db_path, key)
    signing, _ = signing_key(db_path, key)
    with AuditStore.open(db_path) as store:
        leaves = store.events.leaf_hashes(made.tree_size)
    origin = origin_of(leaves[0].hex())
    note = sign_note(checkpoint_body(origin, made.tree_size, bytes.fromhex(made.root_hash)), origin, signing)
    tree = MerkleTree(leaves)

    def proof_for(old_size: int) -> Proof:
        if old_size > made.tree_size:
            raise UserError(
                f"the witness cosigned size {old_size} of this log, which now has {made.tree_size} events: "
                "the log was truncated or rolled back; restore it from a backup"
            )
        return Proof(old_size, tree.consistency_proof(old_size, made.tree_size) if old_size else [])

    try:
        if str(target).startswith(("http://", "https://")):
            from ..web.witness import RemoteWitness  # the HTTP client, only when asked for

            remote = RemoteWitness(str(target))
            cosigned, old_size = remote.cosign_with(note, proof_for)
            name = remote.name
        else:
            witness = Witness(Path(target))
            last = witness.last(origin)
            old_size, name = (last.tree_size if last else 0), witness.name
            cosigned = witness.cosign(note, proof_for(old_size))
    except WitnessRefusal as exc:
        raise UserError(f"the witness refused: {exc}") from None
    folder = witnessed_folder(db_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{made.tree_size:012d}.{hashlib.sha256(name.encode()).hexdigest()[:8]}.note"
    path.write_text(cosigned, encoding="utf-8")
    return Witnessed(name, made.tree_size, old_size, path, made)


def read_witnessed(db_path: Path) -> list[tuple[NoteCheckpoint, str]]:
    folder = witnessed_folder(db_path)
    found = []
    for path in sorted(folder.glob("*.note")) if folder.is_dir() else []:
        text = path.read_text(encoding="utf-8")
        found.append((parse_note(text, str(path)), text))
    return found


def check_witnessed(
    db_path: Path, keys: list[WitnessKey], required: int, leaves: list[bytes], result: VerifyResult
) -> None:
    """Hold the log to every checkpoint a trusted witness cosigned; require ``required`` witnesses on one."""
    if required and not keys:
        raise UserError("--witnesses needs the witnesses' keys: pass --witness-key with each witness's vkey")
    report = ProblemLog(result)
    tree = MerkleTree(leaves)
    best: tuple[int, int, list[str]] = (0, 0, [])  # (witnesses, size, names) of a checkpoint the log extends
    for note, text in reversed(read_witnessed(db_path)):  # the newest first: the first problem names it
        names = sorted({k.name for c in cosignatures(text) for k in keys if c.valid_for(note.body, k)})
        if not names:
            continue
        who = ", ".join(names)
        if note.origin != result.origin:
            report.add(
                "witness",
                None,
                f"witness {who} cosigned size {note.tree_size} of log {note.origin}, kept beside this database, which is "
                f"log {result.origin}: the database was replaced or its history rebuilt from the first event",
            )
            continue
        if note.tree_size > len(leaves):
            report.add(
                "witness",
                len(leaves) + 1,
                f"the log has {len(leaves)} events but witness {who} cosigned size {note.tree_size}: it was truncated or rolled back",
            )
            continue
        if tree.root(note.tree_size) != note.root:
            report.add(
                "witness",
                note.tree_size,
                f"the log does not extend the checkpoint of size {note.tree_size} that witness {who} cosigned: "
                "events up to it were changed or re-chained",
            )
            continue
        best = max(best, (len(names), note.tree_size, names))
        if note.tree_size >= result.witnessed_size:
            result.witnessed_size, result.witnesses = note.tree_size, names
    if required and best[0] < required:
        report.add(
            "witness-required",
            None,
            f"--witnesses {required} was given but no checkpoint of this log that it extends carries {required} "
            f"valid cosignature(s) of the trusted witnesses (found {best[0]}): nothing proves it was not truncated",
        )
