"""Saved checkpoints (``against``, C2SP notes) proven to be prefixes of the log with RFC 6962 consistency proofs."""

from __future__ import annotations

from .merkle import MerkleTree, verify_consistency
from .note import NoteCheckpoint
from .results import AgainstResult, ProblemLog
from .signers import LogSigners


def check_against(
    notes: list[NoteCheckpoint], leaves: list[bytes], origin: str, keys: LogSigners, pinned: bool, report: ProblemLog
) -> list[AgainstResult]:
    """Prove with RFC 6962 consistency proofs that the log extends each saved checkpoint."""
    out: list[AgainstResult] = []
    tree = MerkleTree(leaves) if notes else None
    size = len(leaves)
    trusted = (
        [k for k in keys.seen_keys.values() if k.key_id in keys.pinned_ids] if pinned else list(keys.seen_keys.values())
    )
    for note in notes:
        result = AgainstResult(note.source, note.origin, note.tree_size, note.root.hex())
        out.append(result)
        signer = note.signed_by(trusted)
        result.key_id = signer.key_id if signer else None
        where = f"the checkpoint saved in {note.source} (tree size {note.tree_size})"
        if note.origin != origin:
            report.add(
                "consistency",
                None,
                f"{where} is of log {note.origin}, not of this log ({origin}): the database was replaced or rebuilt from scratch",
            )
            continue
        if signer is None:
            whose = "a pinned key" if pinned else "any key of this log"
            report.add("consistency", None, f"{where} is not signed by {whose}: it cannot vouch for anything")
            continue
        if note.tree_size > size:
            report.add(
                "consistency",
                size + 1,
                f"the log has {size} events, fewer than the {note.tree_size} of {where}: it was rolled back or truncated",
            )
            continue
        assert tree is not None
        proof = tree.consistency_proof(note.tree_size, size)
        result.proof_hashes = len(proof)
        if not verify_consistency(note.tree_size, size, note.root, tree.root(size), proof):
            report.add(
                "consistency",
                note.tree_size,
                f"the log does not extend {where}: events at or before seq {note.tree_size} were changed, removed or re-chained (RFC 6962 consistency proof fails)",
            )
            continue
        result.ok = True
    return out
