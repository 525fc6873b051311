"""Merge the audit databases of many serving hosts into one archive.

Each source is verified first (its chain, tables, blobs and signed checkpoints) and refused
as a whole if anything is wrong, before the archive is opened for writing. Then every
generation record, with its explanations and replays, is re-appended to the archive through
the store repositories, so the archive's own hash chain covers it, and a provenance row
(source host, file, chain position, payload hash, verified root) is logged next to it.
Subjects whose id is already in the archive are skipped: merging a source twice adds nothing.

Attention maps and issued reports are not carried over: both can be recomputed or reissued
from the archive, and a report names the file it was issued from.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..clock import utc_iso
from ..errors import UserError
from ..ids import uuid7
from ..integrity.verify import VerifyResult, verify_database
from ..store import AuditStore, check_writable
from ..store.provenance import Provenance

KINDS = ("generation", "explanation", "replay")


class SourceRefused(UserError):
    """A source that does not verify: evidence problem, not a usage error (exit 1 like ``verify``)."""

    exit_code = 1


@dataclass
class SourceReport:
    path: str
    host: str
    events: int  # verified size of the source log
    root_hash: str
    added: dict[str, int] = field(default_factory=lambda: {kind: 0 for kind in KINDS})
    skipped: dict[str, int] = field(default_factory=lambda: {kind: 0 for kind in KINDS})


@dataclass
class MergeResult:
    archive: str
    sources: list[SourceReport]
    archive_verified: bool = False
    archive_events: int = 0
    archive_root_hash: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def table(self) -> str:
        lines = [
            f"{'source':32}  {'host':16}  {'events':>6}  {'records +':>9}  {'skipped':>7}  {'expl +':>6}  {'replays +':>9}  root"
        ]
        for s in self.sources:
            lines.append(
                f"{Path(s.path).name:32}  {s.host:16}  {s.events:>6}  {s.added['generation']:>9}  {s.skipped['generation']:>7}  "
                f"{s.added['explanation']:>6}  {s.added['replay']:>9}  {s.root_hash[:16]}…"
            )
        state = "verifies" if self.archive_verified else "DOES NOT VERIFY"
        lines.append(
            f"archive {self.archive}: {self.archive_events} events, root {self.archive_root_hash[:16]}…, {state}"
        )
        return "\n".join(lines)


def _verified(path: Path) -> VerifyResult:
    """Each host signs with its own key, so sources are checked against the keys their checkpoints name."""
    result = verify_database(path)
    if not result.ok:
        raise SourceRefused(
            f"source {path} does not verify ({result.summary()}): nothing was merged; investigate it with `llm-audit verify --db {path}`"
        )
    return result


def merge_databases(sources: list[Path], archive: Path, *, hosts: list[str] | None = None) -> MergeResult:
    """Verify every source, then import each into ``archive`` in one transaction per source."""
    sources = [Path(s) for s in sources]
    if not sources:
        raise UserError("no source database given: e.g. `llm-audit merge host-a.db host-b.db -o archive.db`")
    if hosts and len(hosts) != len(sources):
        raise UserError(
            f"{len(hosts)} --host-name value(s) for {len(sources)} source(s): give one per source, in the same order, or none"
        )
    archive = Path(archive)
    for source in sources:
        if archive.exists() and source.exists() and source.resolve() == archive.resolve():
            raise UserError(f"{source} is the archive itself: pass another -o")
    check_writable(archive)
    verified = [_verified(source) for source in sources]  # all checked before the archive is touched
    names = hosts or [source.stem for source in sources]
    reports = []
    with AuditStore.open(archive, write=True) as target:
        for source, check, host in zip(sources, verified, names):
            report = SourceReport(str(source), host, check.events, check.root_hash)
            with AuditStore.open(source) as origin, target.transaction():
                _import(origin, target, report)
            reports.append(report)
    result = MergeResult(str(archive), reports)
    final = verify_database(archive)
    result.archive_verified, result.archive_events, result.archive_root_hash = final.ok, final.events, final.root_hash
    return result


def _has(target: AuditStore, kind: str, subject_id: str) -> bool:
    if kind == "generation":
        try:
            return target.records.get(subject_id).id == subject_id
        except UserError:
            return False
    if kind == "explanation":
        try:
            return target.explanations.get(subject_id).id == subject_id
        except UserError:
            return False
    return target.replays.get(subject_id) is not None


def _import(origin: AuditStore, target: AuditStore, report: SourceReport) -> None:
    """Copy the source's subjects in chain order, up to the verified size of its log."""
    merged_at = utc_iso()
    events = [e for e in origin.events.iter_chain() if e.seq <= report.events and e.kind in KINDS]
    for event in events:
        if _has(target, event.kind, event.subject_id):
            report.skipped[event.kind] += 1
            continue
        if event.kind == "generation":
            seq = target.records.append(origin.records.get(event.subject_id))
        elif event.kind == "explanation":
            if not _has(target, "generation", _record_of(origin, event)):
                report.skipped[event.kind] += 1
                continue
            seq = target.explanations.append(origin.explanations.get(event.subject_id))
        else:
            replay = origin.replays.get(event.subject_id)
            if replay is None or not _has(target, "generation", replay.record_id):
                report.skipped[event.kind] += 1
                continue
            seq = target.replays.append(replay)
        if target.events.at(seq).payload_sha256 != event.payload_sha256:
            raise UserError(
                f"{event.kind} {event.subject_id} of {report.path} does not copy identically (seq {event.seq}): nothing was merged from it"
            )
        target.provenance.append(
            Provenance(
                id=uuid7(),
                subject_kind=event.kind,
                subject_id=event.subject_id,
                source_host=report.host,
                source_path=str(Path(report.path).resolve()),
                source_seq=event.seq,
                source_payload_sha256=event.payload_sha256,
                source_events=report.events,
                source_root_hash=report.root_hash,
                merged_at=merged_at,
            )
        )
        report.added[event.kind] += 1


def _record_of(origin: AuditStore, event: Any) -> str:
    return json.loads(event.payload)["record_id"]
