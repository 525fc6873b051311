"""``export``: verify the log, select, write the pack, sign its manifest, log one ``export`` event.

Order matters: the whole log is verified first (pinned as ``verify`` is) and an export over a log
that does not verify, or whose newest checkpoint is not among the valid ones, is refused before
anything is written. The pack is built read-only from the log at the newest checkpoint, staged,
signed and moved into place; only then is the database written, once: the ``export`` event naming
the manifest's SHA-256 (no automatic checkpoint is signed with it: the next checkpoint covers it).
"""

from __future__ import annotations

import getpass
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from ..clock import utc_iso
from ..errors import UserError
from ..ids import uuid7
from ..integrity.canonical import canonical_bytes, canonical_flat, canonical_object, canonical_scalar
from ..integrity.keys import signing_key
from ..integrity.note import origin_of, vkey
from ..integrity.signing import SigningKey, VerifyKey
from ..integrity.verify import VerifyResult
from ..privacy.guard import PrivacyGuard
from ..privacy.sealing import b64
from ..report.integrity import Verification
from ..store import AuditStore, check_writable
from . import parquet, reports
from .collect import Collected, blob_line, collect
from .folder import PackFolder, check_output
from .opening import data_keys
from .proofs import checkpoint_document, checkpoint_note, index_lines, since_document, tree_of
from .selection import Selection
from .verifier import (
    BLOBS,
    CHECKPOINT,
    COMPLETENESS,
    EVENTS,
    EXCLUDED,
    FORMAT,
    INDEX,
    NOTE,
    OPENED,
    SINCE,
    event_line,
)

KEYS = "log/keys.json"
VERIFIER = "verifier"  # the verifier package, one file per module: `python verifier/verify_pack.py`
README = "README.txt"


@dataclass(frozen=True)
class ExportOptions:
    """One export request (the selection inside it validated once, by :meth:`Selection.build`)."""

    output: Path
    selection: Selection
    exporter: str = ""
    signing_key: Path | None = None
    since_checkpoint: Path | None = None
    witnessed: Path | None = None
    zipped: bool = False
    prove_exclusions: bool = False
    dossiers: bool = True
    open_sealed: bool = False  # add the data keys of sealed records, if the policy lets ``role`` see them
    role: str = "admin"  # the workspace role the exporter acts in (the CLI's user holds the database: admin)
    pack_id: str | None = None  # a UUIDv7 chosen by the caller (the workspace names its download by it)
    request: dict[str, Any] | None = None  # what the requester asked for, as they put it (a workspace list's filters)


@dataclass
class ExportResult:
    path: Path
    zip_path: Path | None
    pack_id: str
    records: int
    events: int
    tree_size: int
    after_checkpoint: int  # events of the log after the checkpoint, not in the pack
    files: int
    size_bytes: int
    manifest_sha256: str
    export_seq: int
    seconds: float

    def summary(self) -> str:
        where = f"{self.path}" + (f" and {self.zip_path}" if self.zip_path else "")
        tail = (
            f"; {self.after_checkpoint} newer events are after the checkpoint and not in it (run `llm-audit checkpoint`, then export again)"
            if self.after_checkpoint
            else ""
        )
        return (
            f"Exported {self.records} records ({self.events} events; {self.files} files, {self.size_bytes / 1e6:.1f} MB, in a signed manifest) "
            f"to {where}, against the checkpoint of {self.tree_size} events; logged as export event seq {self.export_seq}{tail}. "
            f"Check it: llm-audit verify-pack {self.path}"
        )


def export_pack(
    db_path: Path, options: ExportOptions, check: VerifyResult, guard: PrivacyGuard | None = None
) -> ExportResult:
    """Write the pack ``options`` asks for from ``db_path``, whose verification ``check`` is (``guard``: for
    ``open_sealed``, the policy and key store)."""
    started = time.perf_counter()
    check_output(options.output, options.zipped)
    check_writable(db_path)
    if not check.ok:
        raise UserError(
            f"the log does not verify ({check.first_problem}): nothing was exported; run `llm-audit verify` and restore it"
        )
    key, _ = signing_key(db_path, options.signing_key)
    folder = PackFolder(options.output)
    try:
        with AuditStore.open(db_path) as store:
            latest = store.checkpoints.latest()
            if latest is None or not any(c.tree_size == latest.tree_size for c in check.covers):
                raise UserError(
                    "the log's newest checkpoint does not verify (or there is none): nothing was exported; "
                    "run `llm-audit verify`, then `llm-audit checkpoint`"
                )
            if key.key_id != latest.key_id:
                raise UserError(
                    f"key {key.key_id} did not sign the newest checkpoint (key {latest.key_id}): pass --signing-key"
                )
            if options.open_sealed and guard is None:
                raise UserError("--open-sealed needs the privacy policy and key store: pass --policy")
            found = collect(store, options.selection, latest)
            opened = data_keys(guard, found, options.role) if options.open_sealed and guard else {}
            origin = origin_of(found.events[0].leaf_hash)
            log_size = store.events.count()
            _write_log(folder, store, found, origin, key, options)
            _write_records(folder, found, options.prove_exclusions)
            if options.open_sealed:
                folder.lines(OPENED, (_jcs({"data_key": b64(k), "record_id": r}) for r, k in sorted(opened.items())))
            _write_reports(folder, store, found, check, options.dossiers)
        for module in sorted(Path(__file__).with_name("verifier").glob("*.py")):
            folder.write(f"{VERIFIER}/{module.name}", module.read_bytes())
        folder.write(README, _readme(origin, key).encode("utf-8"))
        pack_id = options.pack_id or uuid7()
        manifest = {
            "format": FORMAT,
            "pack_id": pack_id,
            "tool_version": _version(),
            "exporter": options.exporter or getpass.getuser(),
            "created_at": utc_iso(),
            "origin": origin,
            "key_id": key.key_id,
            "tree_size": found.tree_size,
            "selection": found.selection.terms(),
            "request": options.request,
        }
        digest = folder.seal(manifest, key)
        files, size = len(folder.files), sum(f["size"] for f in folder.files.values())
        zipped = folder.finish(options.zipped)
    except BaseException:
        folder.discard()
        raise
    payload = {
        "exporter": manifest["exporter"],
        "selection": manifest["selection"],
        "tree_size": found.tree_size,
        "records": len(found.records),
        "events": len(found.exported),
        "manifest_sha256": digest,
        "prove_exclusions": options.prove_exclusions,
        "opened": sorted(opened),
        "role": options.role,
        "request": options.request,
    }
    try:
        with AuditStore.open(db_path, write=True) as store:
            seq = store.exports.append(pack_id, payload)
    except BaseException:
        folder.withdraw(zipped)  # a pack the log does not know of is never left behind
        raise
    after = log_size - found.tree_size
    return ExportResult(
        options.output, zipped, pack_id, len(found.records), len(found.exported), found.tree_size, after, files, size,
        digest, seq, time.perf_counter() - started,
    )  # fmt: skip


def _write_log(
    folder: PackFolder, store: AuditStore, found: Collected, origin: str, key: SigningKey, options: ExportOptions
) -> None:
    tree = tree_of(found)
    folder.json(CHECKPOINT, checkpoint_document(found, origin))
    folder.write(NOTE, checkpoint_note(found, origin, key, options.witnessed).encode("utf-8"))
    folder.lines(INDEX, (_jcs(h) for h in index_lines(found)))
    log_keys = {cp.public_key: cp.key_id for cp in store.checkpoints.all()}
    keys = [VerifyKey.from_raw_hex(public, "the log's key") for public in log_keys]
    folder.json(
        KEYS,
        {
            "origin": origin,
            "keys": [
                {"key_id": k.key_id, "public_key": k.raw.hex(), "pem": k.public_pem(), "note_key": vkey(origin, k)}
                for k in keys
            ],
        },
    )
    if options.since_checkpoint is not None:
        folder.json(SINCE, since_document(tree, origin, options.since_checkpoint, keys))
    found.proofs = {seq: [h.hex() for h in tree.inclusion_proof(seq - 1)] for seq in found.exported}


def _event_json(found: Collected, seq: int, proof: list[str] | None) -> str:
    """The event's line; its header's RFC 8785 text is built from member texts (strings and hex lists only)."""
    e = found.events[seq - 1]
    members = {"seq": str(e.seq), "payload_sha256": f'"{e.payload_sha256}"', "leaf_hash": f'"{e.leaf_hash}"'}
    members |= {name: canonical_scalar(getattr(e, name)) for name in ("kind", "subject_id", "created_at")}
    if proof is not None:
        members |= {"inclusion_path": _strings(proof), "blobs": _strings(found.event_blobs.get(seq, []))}
    return event_line(canonical_object(members, ascii_keys=True), e.payload)


def _strings(values: list[str]) -> str:
    return "[" + ",".join(canonical_scalar(v) for v in values) + "]"


def _jcs(value: dict[str, Any]) -> str:
    return canonical_flat(value) or canonical_bytes(value).decode("utf-8")


def _write_records(folder: PackFolder, found: Collected, prove_exclusions: bool) -> None:
    folder.lines(EVENTS, (_event_json(found, seq, found.proofs[seq]) for seq in found.exported))
    folder.lines(BLOBS, (_jcs(blob_line(d, data)) for d, data in sorted(found.blobs.items())))
    if prove_exclusions:
        exported = set(found.exported)
        others = (e.seq for e in found.events if e.seq not in exported)
        folder.lines(EXCLUDED, (_event_json(found, seq, None) for seq in others))
    folder.json(
        COMPLETENESS,
        {
            "query": found.selection.terms(),
            "tree_size": found.tree_size,
            "records": sorted(found.records),
            "record_leaves": sorted(found.records.values()),
            "events": found.exported,
            "exclusions_disclosed": prove_exclusions,
            "statement": (
                f"Every record of the log at tree size {found.tree_size} matching the query is in this pack with every "
                "event about it; the log index lists every event of the log at that size"
            ),
        },
    )
    parquet.write_events(folder.place(parquet.EVENTS_PARQUET), (found.events[s - 1] for s in found.exported))
    folder.add_file(parquet.EVENTS_PARQUET, folder.place(parquet.EVENTS_PARQUET))
    records = [(seq, found.events[seq - 1].payload) for seq in sorted(found.records.values())]
    parquet.write_records(folder.place(parquet.RECORDS_PARQUET), records, found.blobs)
    folder.add_file(parquet.RECORDS_PARQUET, folder.place(parquet.RECORDS_PARQUET))


def _write_reports(
    folder: PackFolder, store: AuditStore, found: Collected, check: VerifyResult, dossiers: bool
) -> None:
    generated = utc_iso()[:19] + "Z"
    verification = Verification(check)
    folder.write(reports.SUMMARY, reports.summary(store, found, verification, generated).encode("utf-8"))
    if dossiers:
        for name, html in reports.dossiers(store, found, verification, generated):
            folder.write(name, html.encode("utf-8"))


def _version() -> str:
    try:
        return metadata.version("llm-audit")
    except metadata.PackageNotFoundError:
        return "unknown"


def _readme(origin: str, key: VerifyKey) -> str:
    return (
        f"llm-audit evidence pack of log {origin}, signed by key {key.key_id}.\n\n"
        "Check it offline (Python 3.11+ and the `cryptography` package, nothing else):\n"
        "  python -m venv v && v/bin/pip install cryptography\n"
        "  v/bin/python verifier/verify_pack.py . --key KEY.pub.pem\n\n"
        "KEY.pub.pem is the log's public key, which you must obtain from its owner by another channel:\n"
        "log/keys.json in this pack says which key signed it, not whether you should trust it.\n"
        "The verifier in this pack is a copy; prefer the one you already hold (audit/pack/verifier/ of llm-audit).\n"
    )
