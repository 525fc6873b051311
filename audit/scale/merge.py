"""Merge the audit databases of many serving hosts into one archive, refusing what it cannot trust.

Every source is checked before the archive is opened for writing, and refused as a whole
if anything is wrong, so a refusal leaves the archive byte-identical:

* its components and schema versions are all known to this llm-audit (a newer writer's
  tables would be copied half-understood);
* it verifies (chain, tables both ways, blobs, checkpoints) against the trust file, and a
  checkpoint signed by a trusted key covers what is merged: only events up to the last
  trusted checkpoint are copied, unless ``allow_unsigned``, which the provenance then records
  for every subject it let in;
* every id it would copy is a well-formed UUIDv7 (ids end up in file names and HTML);
* every blob it would copy is at most ``max_blob_bytes`` stored and expanded, counted by
  decompressing in chunks that are thrown away, never the whole blob at once.

Then every generation record, with its explanations and replays, is re-appended to the
archive through the store repositories, so the archive's own hash chain covers it, and a
provenance row (source host, file, chain position, payload hash, verified root, what vouched
for it) is logged next to it. Subjects already in the archive are skipped: merging a source
twice adds nothing. At the end the archive is signed (a batch command always ends covered).

Attention maps and issued reports are not carried over: both can be recomputed or reissued
from the archive, and a report names the file it was issued from.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..clock import utc_iso
from ..errors import UserError
from ..ids import is_uuid7, uuid7
from ..integrity.keys import sign_tail
from ..integrity.verify import VerifyResult, verify_database
from ..store import AuditStore, check_writable
from ..store.blobs import BlobTooLarge, expanded_size
from ..store.provenance import Provenance
from ..store.schema import all_migrations

KINDS = ("generation", "explanation", "replay")
DEFAULT_MAX_BLOB_BYTES = 512 << 20


class SourceRefused(UserError):
    """A source that cannot be trusted: an evidence problem, not a usage error (exit 1 like ``verify``)."""

    exit_code = 1


@dataclass
class SourceReport:
    path: str
    host: str
    events: int  # verified size of the source log
    root_hash: str
    merged_up_to: int = 0  # events up to this seq were considered (the trusted checkpoint's size, or all)
    trust: str = ""
    added: dict[str, int] = field(default_factory=lambda: {kind: 0 for kind in KINDS})
    skipped: dict[str, int] = field(default_factory=lambda: {kind: 0 for kind in KINDS})


@dataclass
class MergeResult:
    archive: str
    sources: list[SourceReport]
    archive_verified: bool = False
    archive_events: int = 0
    archive_root_hash: str = ""
    archive_key_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def table(self) -> str:
        lines = [
            f"{'source':32}  {'host':16}  {'events':>6}  {'merged':>6}  {'records +':>9}  {'skipped':>7}  {'expl +':>6}  {'replays +':>9}  root"
        ]
        for s in self.sources:
            lines.append(
                f"{Path(s.path).name:32}  {s.host:16}  {s.events:>6}  {s.merged_up_to:>6}  {s.added['generation']:>9}  "
                f"{s.skipped['generation']:>7}  {s.added['explanation']:>6}  {s.added['replay']:>9}  {s.root_hash[:16]}…"
            )
            lines.append(f"  {s.trust}")
        state = "verifies" if self.archive_verified else "DOES NOT VERIFY"
        lines.append(
            f"archive {self.archive}: {self.archive_events} events, root {self.archive_root_hash[:16]}…, {state}, "
            f"signed by key {self.archive_key_id}"
        )
        return "\n".join(lines)


def _check_schema(path: Path) -> None:
    """Refuse a source written by a newer llm-audit: unknown components or versions (exit 2: upgrade first)."""
    known: dict[str, int] = {}
    for migration in all_migrations():
        known[migration.component] = max(known.get(migration.component, 0), migration.version)
    try:
        with AuditStore.open(path) as store:
            applied = {component: int(version) for component, version in store.schema_versions().items()}
    except sqlite3.DatabaseError as exc:
        raise SourceRefused(f"source {path} cannot be read ({exc}): nothing was merged") from None
    unknown = sorted(f"{c} v{v}" for c, v in applied.items() if v > known.get(c, 0))
    if unknown:
        raise UserError(
            f"source {path} was written by a newer llm-audit (unknown here: {', '.join(unknown)}): nothing was merged; "
            "upgrade llm-audit, then merge again"
        )


def _verified(path: Path, trust_file: Path | str | None, allow_unsigned: bool) -> tuple[VerifyResult, int, str]:
    """The source's verification, how far it may be merged, and what vouches for that.

    Each host signs with its own key; the archive's trust file holds the hosts' public keys. A
    source signed by a key that is not trusted is not tampered, only untrusted: refused unless
    ``allow_unsigned``; any other problem refuses it whatever the options.
    """
    result = verify_database(path, trust_file=trust_file)  # pinned as `verify` pins it: by the source's own log
    tampering = [p for p in result.problems if p.check != "pinning"]
    if tampering:
        first = tampering[0]
        raise SourceRefused(
            f"source {path} does not verify (TAMPERED: {first}): nothing was merged; investigate it with `llm-audit verify --db {path}`"
        )
    if result.pinned_size:
        cover = result.cover_of(result.pinned_size)
        return result, result.pinned_size, f"signed by trusted key {cover.key_id} up to seq {result.pinned_size}"  # type: ignore[union-attr]
    if allow_unsigned:
        return result, result.events, "unsigned (--allow-unsigned): no checkpoint signed by a trusted key covers it"
    signers = ", ".join(sorted({c.key_id for c in result.covers})) or "no key"
    raise SourceRefused(
        f"source {path} has no checkpoint signed by a trusted key (it is signed by {signers}; "
        f"{result.pin_source or result.unpinned_because or 'the trust file is empty'}): nothing was merged; trust its "
        "host's key with `llm-audit trust add HOST.pub.pem`, or pass --allow-unsigned (recorded in the provenance)"
    )


def _events(origin: AuditStore, up_to: int) -> list[Any]:
    return [e for e in origin.events.iter_chain() if e.seq <= up_to and e.kind in KINDS]


def _check_contents(path: Path, up_to: int, max_blob_bytes: int) -> None:
    """Every id well-formed, every blob within the limit, before anything is written."""
    with AuditStore.open(path) as origin:
        for event in _events(origin, up_to):
            payload = json.loads(event.payload)
            for name, value in (("id", event.subject_id), ("record_id", payload.get("record_id", event.subject_id))):
                if not is_uuid7(value):
                    raise SourceRefused(
                        f"source {path}: {event.kind} {name} {str(value)[:60]!r} (seq {event.seq}) is not a UUIDv7 as "
                        "llm-audit writes them: nothing was merged"
                    )
            repository = origin.evidence[event.kind]
            for digest in repository.blob_digests(payload):
                data = origin.blobs.stored_bytes(digest)
                if data is None:
                    continue  # verification already refused a missing blob
                try:
                    if len(data) > max_blob_bytes:
                        raise BlobTooLarge(f"is {len(data):,} bytes stored")
                    expanded_size(data, max_blob_bytes)
                except BlobTooLarge as exc:
                    raise SourceRefused(
                        f"source {path}: blob {digest[:16]}… of {event.kind} {event.subject_id} {exc}, over the limit of "
                        f"{max_blob_bytes:,} bytes: nothing was merged (raise it with --max-blob-mb if it is genuine)"
                    ) from None


def merge_databases(
    sources: list[Path],
    archive: Path,
    *,
    hosts: list[str] | None = None,
    allow_unsigned: bool = False,
    trust_file: Path | None = None,
    max_blob_bytes: int = DEFAULT_MAX_BLOB_BYTES,
) -> MergeResult:
    """Check every source, then import each into ``archive`` in one transaction per source."""
    sources = [Path(s) for s in sources]
    if not sources:
        raise UserError("no source database given: e.g. `llm-audit merge host-a.db host-b.db -o archive.db`")
    if hosts and len(hosts) != len(sources):
        raise UserError(
            f"{len(hosts)} --host-name value(s) for {len(sources)} source(s): give one per source, in the same order, or none"
        )
    if max_blob_bytes < 1:
        raise UserError("--max-blob-mb must be at least 1")
    archive = Path(archive)
    for source in sources:
        if archive.exists() and source.exists() and source.resolve() == archive.resolve():
            raise UserError(f"{source} is the archive itself: pass another -o")
    check_writable(archive)
    checked = []
    for source in sources:  # all checked before the archive is touched
        _check_schema(source)
        result, up_to, trust = _verified(source, trust_file, allow_unsigned)
        _check_contents(source, up_to, max_blob_bytes)
        checked.append((result, up_to, trust))
    names = hosts or [source.stem for source in sources]
    reports = []
    with AuditStore.open(archive, write=True) as target:
        for source, (check, up_to, trust), host in zip(sources, checked, names):
            report = SourceReport(str(source), host, check.events, check.root_hash, up_to, trust)
            with AuditStore.open(source) as origin, target.transaction():
                _import(origin, target, report, check)
            reports.append(report)
    made = sign_tail(archive)
    result = MergeResult(str(archive), reports)
    final = verify_database(archive, trust_file=trust_file)  # what `verify` will say of it, pinned the same way
    result.archive_verified, result.archive_events, result.archive_root_hash = final.ok, final.events, final.root_hash
    result.archive_key_id = made.key_id if made else final.key_id
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


def _import(origin: AuditStore, target: AuditStore, report: SourceReport, check: VerifyResult) -> None:
    """Copy the source's subjects in chain order, up to the size that may be merged."""
    merged_at = utc_iso()
    for event in _events(origin, report.merged_up_to):
        if _has(target, event.kind, event.subject_id):
            report.skipped[event.kind] += 1
            continue
        if event.kind == "generation":
            seq = target.records.append(origin.records.get(event.subject_id))
        elif event.kind == "explanation":
            if not _has(target, "generation", json.loads(event.payload)["record_id"]):
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
        cover = check.cover_of(event.seq)
        pinned = cover is not None and cover.pinned
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
                source_key_id=cover.key_id if pinned else None,  # type: ignore[union-attr]
                source_trust=(
                    f"signed by trusted key {cover.key_id} in checkpoint {cover.checkpoint_id} (tree size {cover.tree_size})"  # type: ignore[union-attr]
                    if pinned
                    else "unsigned (--allow-unsigned)"
                ),
            )
        )
        report.added[event.kind] += 1
