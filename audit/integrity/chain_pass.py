"""The chain pass: one streaming walk of the log in seq order that ties every check together.

Per event: seq is gap-free, the payload hashes to ``payload_sha256``, ``prev_hash`` links to the
previous leaf, the leaf hash recomputes; the evidence check (:mod:`.evidence_check`) runs in step,
or in a second process (:mod:`.evidence_process`); key transitions are checked as they come
(:mod:`.signers`). Leaves feed a streaming Merkle accumulator, and each checkpoint is checked when
the accumulator reaches its tree size. Then pinning, ``require_signed`` and the saved checkpoints
(:mod:`.consistency`).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Sequence
from pathlib import Path

from ..errors import UserError
from ..store import AuditStore
from ..store.checkpoints import TRANSITION
from .chain import GENESIS, recompute_leaf
from .consistency import check_against
from .event_signatures import EventSignatures
from .evidence_check import EvidenceCheck
from .evidence_process import PARALLEL_FROM_CORES, PARALLEL_FROM_EVENTS, evidence_in_a_process
from .merkle import MerkleAccumulator
from .note import origin_of, read_note
from .results import MAX_PROBLEMS, ProblemLog, VerifyResult
from .signers import LogSigners, check_pinning
from .trust import Pins


def verify_store(
    store: AuditStore,
    pins: Pins | None = None,
    *,
    require_signed: bool = False,
    against: Sequence[Path] = (),
    parallel: bool | None = None,
) -> VerifyResult:
    """Verify ``store`` (see the module docstring); ``parallel``: check the evidence tables in a second process
    (default: for logs of 20,000 events or more, on a machine with four or more cores)."""
    started = time.perf_counter()
    pins = pins if pins is not None else Pins()
    result = VerifyResult(
        database=str(store.path),
        key_pinned=pins.pinned,
        pin_source=pins.source,
        pin_warning=pins.warning,
        unpinned_because=pins.unpinned_because,
        require_signed=require_signed,
    )
    report = ProblemLog(result)
    if not store.events.exists():
        raise UserError(f"{store.path} has no event log yet: record something first with `llm-audit generate`")
    if not store.events.is_chained():
        raise UserError(
            f"{store.path} predates the hash chain: run `llm-audit checkpoint --db {store.path}` once to chain and sign it"
        )
    notes = [read_note(Path(p)) for p in against]
    checkpoints = store.checkpoints.all()
    result.checkpoints = len(checkpoints)
    keys = LogSigners(pins, report)
    for earlier, later in zip(checkpoints, checkpoints[1:]):
        if later.tree_size < earlier.tree_size:
            report.add(
                "truncation",
                later.tree_size,
                f"checkpoint {later.id} covers fewer events ({later.tree_size}) than checkpoint {earlier.id} ({earlier.tree_size})",
            )
    pending = sorted(checkpoints, key=lambda c: (c.tree_size, c.id or 0))
    next_cp = 0
    while next_cp < len(pending) and pending[next_cp].tree_size == 0:
        keys.check(pending[next_cp], MerkleAccumulator().root())
        next_cp += 1

    if parallel is None:
        parallel = (os.cpu_count() or 1) >= PARALLEL_FROM_CORES and store.events.count() >= PARALLEL_FROM_EVENTS
    waiting = evidence_in_a_process(store.path) if parallel and store.path.exists() else None
    evidence = None if waiting is not None else EvidenceCheck(store, ProblemLog(VerifyResult(database=str(store.path))))
    acc = MerkleAccumulator()
    leaves: list[bytes] = []
    prev_leaf = GENESIS.hex()
    expected = 1
    signatures = EventSignatures(report)
    for event, signature in store.events.iter_chain_signed():
        seq = event.seq
        if seq != expected:
            report.add(
                "sequence",
                expected,
                f"event {expected} is missing: the next stored event is seq {seq} (rows deleted or renumbered)",
            )
            expected = seq
        expected += 1
        if hashlib.sha256(event.payload.encode("utf-8")).hexdigest() != event.payload_sha256:
            report.add(
                "payload-hash",
                seq,
                f"{event.kind} {event.subject_id}: payload does not match its payload_sha256 (payload edited)",
            )
        if event.prev_hash != prev_leaf:
            report.add(
                "chain-link",
                seq,
                "prev_hash does not link to the previous event's leaf hash (rows deleted, inserted or swapped)",
            )
        if recompute_leaf(event, signature is not None) != event.leaf_hash:
            report.add(
                "leaf-hash", seq, f"{event.kind} {event.subject_id}: leaf_hash does not match the event's fields"
            )
        signatures.add(event, signature)
        if evidence is not None:  # in step with the chain (one pass), unless a second process does it
            evidence.projected += evidence.event(seq, event.kind, event.subject_id, event.payload)
        if event.kind == TRANSITION:
            signatures.check(keys.log_key)  # written with the key it retires
            keys.transition(seq, event.subject_id, event.payload, prev_leaf)
        leaf = bytes.fromhex(event.leaf_hash)
        acc.add(leaf)
        if notes:
            leaves.append(leaf)
        if seq == 1:
            result.origin = origin_of(event.leaf_hash)
        prev_leaf = event.leaf_hash
        while next_cp < len(pending) and pending[next_cp].tree_size == acc.size:
            cover = keys.check(pending[next_cp], acc.root())
            if cover is not None:
                result.covers.append(cover)
                signatures.covered(acc.size)  # the checkpoint's signer checked them before signing
            next_cp += 1
    signatures.check(keys.log_key)  # the events no checkpoint covers yet: each must be the log key's
    result.events = acc.size
    result.root_hash = acc.root().hex()
    for cp in pending[next_cp:]:
        report.add(
            "truncation",
            acc.size + 1,
            f"log truncated: checkpoint {cp.id} signed {cp.signed_at} covers {cp.tree_size} events, only {acc.size} remain",
        )
    outcome = waiting() if waiting is not None else evidence.outcome()  # type: ignore[union-attr]
    result.projected, result.rows, result.blobs = outcome.projected, outcome.rows, outcome.blobs
    report.seen += outcome.seen
    result.problems.extend(outcome.problems[: max(0, MAX_PROBLEMS - len(result.problems))])
    result.signed_size = max((c.tree_size for c in result.covers), default=0)
    result.pinned_size = max((c.tree_size for c in result.covers if c.pinned), default=0)
    result.key_id = keys.log_key.key_id if keys.log_key else None
    check_pinning(result, pins, report)
    if require_signed and result.unsigned_events > 0:
        whose = "a pinned key" if pins.pinned else "the log's key"
        report.add(
            "unsigned",
            result.covered_size + 1,
            f"{result.unsigned_events} events (seq {result.covered_size + 1}-{result.events}) come after the last checkpoint "
            f"signed by {whose} and --require-signed was given: they are not covered by any signature",
        )
    result.against = check_against(notes, leaves, result.origin, keys, pins.pinned, report)
    result.problems.sort(key=lambda p: (p.seq is None, p.seq or 0))
    result.seconds = time.perf_counter() - started
    return result
