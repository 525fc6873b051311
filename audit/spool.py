"""The pending spool: computed evidence that could not be stored yet is kept, never lost.

(Not SQLite's journal: user-facing messages still call it the "pending journal", unchanged.)

A generation takes seconds to minutes of model time; an explanation or a replay can take
longer. When the database cannot take the result (another process holds its write lock
beyond the wait, the disk is full, the log refuses to be signed), the result is written as
one JSON file into a journal folder beside the database (``<db>.pending/``; if that cannot
be written either, ``$XDG_STATE_HOME/llm-audit/pending/`` or ``~/.local/state/...``), and the
one-line error names the command that appends it once the database is writable again:
``llm-audit append-pending --db DB``. What is journaled is exactly what would have been
stored (for a sealed record, the redacted and sealed copy, never the clear text).

Appending goes through the store's repositories (each item with its event, in one
transaction), skips an item whose id is already stored (a retried append adds nothing),
and removes each journal file only after its transaction committed.
"""

from __future__ import annotations

import base64
import io
import json
import os
import sqlite3
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from .clock import utc_iso
from .errors import UserError
from .integrity.canonical import canonical_bytes
from .integrity.key_location import key_file_name
from .store import AuditStore
from .store.database import describe_write_error

FORMAT = "llm-audit-pending/1"
SUFFIX = ".pending"
REPOSITORIES = {
    "generation": "records",
    "explanation": "explanations",
    "attention": "attention",
    "replay": "replays",
    "counterfactual": "counterfactuals",
    "fairness": "fairness",
}
_DOCUMENTS = ("counterfactual", "fairness")  # results that serialise themselves (to_dict/from_dict)


def spool_dir(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + SUFFIX)


def fallback_dir(db_path: Path) -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "llm-audit" / "pending" / key_file_name(db_path).removesuffix(".key")


# -- (de)serialising the four kinds of computed evidence ------------------------------------------
def _encode(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        buffer = io.BytesIO()
        np.save(buffer, value, allow_pickle=False)
        return {"$ndarray": base64.b64encode(buffer.getvalue()).decode("ascii")}
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$ndarray"}:
            return np.load(io.BytesIO(base64.b64decode(value["$ndarray"])), allow_pickle=False)
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def to_json(kind: str, item: Any) -> dict[str, Any]:
    if kind == "generation" or kind in _DOCUMENTS:
        return item.to_dict()
    return _encode({f.name: getattr(item, f.name) for f in fields(item)})


def from_json(kind: str, data: dict[str, Any]) -> Any:
    if kind == "generation":
        from .record import GenerationRecord

        return GenerationRecord.from_dict(data)
    if kind == "counterfactual":
        from .counterfactual.result import CounterfactualResult

        return CounterfactualResult.from_dict(data)
    if kind == "fairness":
        from .fairness.result import FairnessResult

        return FairnessResult.from_dict(data)
    data = _decode(data)
    if kind == "explanation":
        from .attribution.result import AttributionResult

        return AttributionResult(**data)
    if kind == "attention":
        from .attention.result import AttentionResult

        return AttentionResult(**data)
    from .replay.result import Divergence, ReplayResult

    if data.get("first_divergence") is not None:
        data["first_divergence"] = Divergence(**data["first_divergence"])
    return ReplayResult(**data)


# -- writing ------------------------------------------------------------------------------------
def _write_entry(folder: Path, name: str, document: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = folder / name
    tmp = folder / f".{name}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(document, handle, ensure_ascii=False)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def keep(db_path: Path, kind: str, item: Any, reason: str) -> Path:
    """Write ``item`` to the journal (beside the database, else the state folder); the file written."""
    item_id = getattr(item, "id", None) or "unnamed"
    document = {
        "format": FORMAT,
        "kind": kind,
        "database": str(db_path.resolve()),
        "kept_at": utc_iso(),
        "reason": reason,
        "item": to_json(kind, item),
    }
    signature = _sign(db_path, document)
    if signature is not None:
        document["signature"] = signature
    name = f"{utc_iso().replace(':', '')}-{kind}-{item_id}.json"
    failures = []
    for folder in (spool_dir(db_path), fallback_dir(db_path)):
        try:
            return _write_entry(folder, name, document)
        except OSError as exc:
            failures.append(f"{folder}: {exc.strerror}")
    raise UserError(
        f"cannot store the {kind} ({reason}) and cannot keep it in a pending journal either ({'; '.join(failures)}): "
        "free disk space and run the command again"
    )


def _signed_text(document: dict[str, Any]) -> bytes:
    """What the writer signs: the entry (without its signature) in RFC 8785, with a context string."""
    body = {k: v for k, v in document.items() if k != "signature"}
    return b"llm-audit/pending-entry/v1\n" + canonical_bytes(body)


def _sign(db_path: Path, document: dict[str, Any]) -> dict[str, str] | None:
    """The writer's signature of a spool entry with the log's key (None where this process has no key for it: such
    an entry is appended only to a log whose events are not signed, as before 0.3)."""
    from .integrity.keys import signing_key

    try:
        key, _ = signing_key(db_path)
    except (UserError, sqlite3.Error, OSError):
        return None
    return {"key_id": key.key_id, "public_key": key.raw.hex(), "signature": key.sign(_signed_text(document))}


def _check_signature(path: Path, document: dict[str, Any], key: Any) -> None:
    """Refuse an entry the log's key did not sign (a forged file: a backdated sign-off, a fake "identical" replay)."""
    if key is None:
        return  # a log whose events are not signed (its key is not here): entries are taken as before 0.3
    signed = document.get("signature")
    from .integrity.signing import VerifyKey

    valid = isinstance(signed, dict) and signed.get("key_id") == key.key_id
    if valid:
        verifier = VerifyKey.from_raw_hex(key.raw.hex(), "the log's key")
        valid = verifier.verify(str(signed.get("signature")), _signed_text(document))
    if not valid:
        raise UserError(
            f"pending journal file {path} is not signed by this log's key {key.key_id}: it was not written by an "
            "llm-audit process holding the key, so nothing was appended; move it out of the journal folder"
        )


def store_or_keep(db_path: Path, kind: str, item: Any, write: Callable[[AuditStore], Any] | None = None) -> Any:
    """Store ``item`` with its event; if the database cannot take it, keep it in the journal and say how to append it.

    ``write(store)`` stores it (default: the kind's repository ``append``); its return value is returned.
    """
    write = write or (lambda store: getattr(store, REPOSITORIES[kind]).append(item))
    try:
        with AuditStore.open(db_path, write=True) as store:
            return write(store)
    except (sqlite3.Error, OSError, UserError) as exc:
        reason = describe_write_error(exc, db_path) if not isinstance(exc, UserError) else str(exc)
        kept = keep(db_path, kind, item, reason)
        raise UserError(
            f"the {kind} was computed but not stored: {reason}. It is kept in {kept}; once the database is writable, "
            f"append it with `llm-audit append-pending --db {db_path}`"
        ) from None


# -- appending ----------------------------------------------------------------------------------
@dataclass
class Appended:
    file: str
    kind: str
    id: str
    status: str  # "appended" | "already stored"

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def entries(db_path: Path) -> list[Path]:
    """Journal files of this database, oldest first (both places)."""
    found = []
    for folder in (spool_dir(db_path), fallback_dir(db_path)):
        if folder.is_dir():
            found += sorted(p for p in folder.glob("*.json") if not p.name.startswith("."))
    return found


def _read(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read pending journal file {path} ({exc}): move it aside and run again") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT or document.get("kind") not in REPOSITORIES:
        raise UserError(f"{path} is not an llm-audit pending journal file: move it out of the journal folder")
    return document


def _stored(store: AuditStore, kind: str, item_id: str) -> bool:
    return store.events.logged(kind, item_id) is not None


def append_pending(db_path: Path) -> list[Appended]:
    """Append every journaled item to the database (each with its event), removing each file once committed."""
    files = entries(db_path)
    if not files:
        return []  # nothing to do is not an error: a cron job running this after every outage exits 0
    documents = [(path, _read(path)) for path in files]  # every file read and checked before anything is written
    done = []
    with AuditStore.open(db_path, write=True) as store:
        key = store.checkpoints.event_key()
        for path, document in documents:  # every signature checked before anything is written
            _check_signature(path, document, key)
        for path, document in documents:
            kind = document["kind"]
            item = from_json(kind, document["item"])
            with store.transaction():
                if item.id and _stored(store, kind, item.id):
                    status = "already stored"
                else:
                    getattr(store, REPOSITORIES[kind]).append(item)
                    status = "appended"
            path.unlink()
            done.append(Appended(str(path), kind, str(item.id), status))
        store.checkpoints.sign_tail()
    return done
