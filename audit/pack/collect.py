"""Read what a pack holds from the store: the log at one checkpoint, the selected records and their events.

Everything comes from the event log as stored (canonical payload text, hashes), read once in seq
order up to the checkpoint's tree size: the records, their evidence (every event whose subject is
the record, or whose payload names it: explanations, attention, replays, counterfactual and fairness
runs, reviews and findings, erasure tombstones, holds and releases) and the blobs they reference.
Sealed fields stay the ciphertext the log holds; an erased record is its logged payload (whose data
key is destroyed) and its tombstone.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import UserError
from ..integrity.chain import ChainedEvent
from ..store import AuditStore
from ..store.checkpoints import Checkpoint
from .selection import Selection
from .verifier import data_subject, match, record_links


@dataclass
class Collected:
    """The log at the checkpoint and the part of it the pack exports."""

    selection: Selection
    checkpoint: Checkpoint
    events: list[ChainedEvent]  # every event 1..tree_size, as stored
    payloads: dict[int, dict[str, Any]]  # seq -> parsed payload of each generation and review (what selection reads)
    records: dict[str, int] = field(default_factory=dict)  # selected record id -> its generation seq
    exported: list[int] = field(default_factory=list)  # seqs of the exported events, in log order
    blobs: dict[str, bytes] = field(default_factory=dict)  # sha256 -> stored bytes
    event_blobs: dict[int, list[str]] = field(default_factory=dict)
    proofs: dict[int, list[str]] = field(default_factory=dict)  # exported seq -> its inclusion path (hex)
    signatures: dict[int, str] = field(default_factory=dict)  # seq -> the writer's signature (events since 0.3)

    @property
    def tree_size(self) -> int:
        return self.checkpoint.tree_size


def collect(store: AuditStore, selection: Selection, checkpoint: Checkpoint) -> Collected:
    size = checkpoint.tree_size
    signed = [(e, sig) for e, sig in store.events.iter_chain_signed() if e.seq <= size]
    events = [e for e, _ in signed]
    signatures = {e.seq: sig for e, sig in signed if sig is not None}
    if len(events) != size:
        raise UserError(
            f"the log holds {len(events)} of the {size} events its checkpoint covers: run `llm-audit verify`"
        )
    payloads = {e.seq: json.loads(e.payload) for e in events if e.kind in ("generation", "review")}
    generations = {e.subject_id: e.seq for e in events if e.kind == "generation"}
    selection = _resolve_ids(selection, generations)
    reviewed = {payloads[e.seq].get("record_id") for e in events if e.kind == "review"}
    query = selection.terms()
    records = {rid: seq for rid, seq in generations.items() if match(query, payloads[seq], reviewed)}
    if not records:
        raise UserError(
            f"no record of the log (up to its checkpoint of {size} events) matches {selection.describe()}: "
            "check the selection with `llm-audit list`"
        )
    subjects = _privacy_subjects(payloads, records)
    wanted = set(records)
    exported = [
        e.seq
        for e in events
        if record_links(e.kind, e.subject_id, e.payload) & wanted
        or (e.kind in ("hold", "release") and e.subject_id in subjects)
    ]
    found = Collected(selection, checkpoint, events, payloads, records, exported)
    found.signatures = signatures
    evidence = store.evidence
    for seq in exported:
        repository = evidence.get(events[seq - 1].kind)
        digests = repository.blob_digests(json.loads(events[seq - 1].payload)) if repository is not None else []
        for digest in digests:
            data = store.blobs.stored_bytes(digest)
            if data is None:
                raise UserError(f"blob {digest[:16]}… of seq {seq} is not stored: run `llm-audit verify`")
            found.blobs[digest] = data
        found.event_blobs[seq] = list(digests)
    return found


def _resolve_ids(selection: Selection, generations: dict[str, int]) -> Selection:
    """Full record ids for the ids given (a unique prefix of 8+ characters works); an unknown one is refused."""
    if selection.ids is None:
        return selection
    full = []
    for given in selection.ids:
        matches = [rid for rid in generations if rid == given] or [
            rid for rid in generations if len(given) >= 8 and rid.startswith(given)
        ]
        if len(matches) != 1:
            raise UserError(
                f"{'no' if not matches else 'more than one'} record of the log matches id {given!r}: "
                "run `llm-audit list` to see the ids (records after the newest checkpoint need `llm-audit checkpoint`)"
            )
        full.append(matches[0])
    return replace(selection, ids=tuple(dict.fromkeys(full)))


def _privacy_subjects(payloads: dict[int, dict[str, Any]], records: dict[str, int]) -> set[str]:
    """The data-subject references of the selected records (holds may name a subject instead of a record)."""
    return {subject for seq in records.values() if (subject := data_subject(payloads[seq])) is not None}


def blob_line(digest: str, data: bytes) -> dict[str, str]:
    return {"base64": base64.b64encode(data).decode("ascii"), "sha256": digest}
