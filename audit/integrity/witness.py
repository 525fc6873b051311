"""A witness: cosigns a log's checkpoint only if it extends the last one it cosigned for that log.

The witness folder holds its own Ed25519 key (``witness.key.pem``), its name and verifier key
(``witness.json``, ``witness.vkey``), the log keys it was told per origin (``logs.json``), and,
per origin, the last note it cosigned (``state/<sha256(origin)[:32]>.note``, replaced atomically).
A checkpoint is cosigned (C2SP tlog-cosignature/v1, :mod:`.cosignature`) only when it is signed
by the key the witness was told for its origin and an RFC 6962 consistency proof shows that the
last cosigned tree is a prefix of it. So once a witness has cosigned size S, no one (the writer
of the database included) can get it to cosign a log that was truncated below S or rewritten:
that is what lets ``verify --witnesses N`` catch a rollback with no file the user exported.

A proof travels as text, as in C2SP tlog-witness: ``old <size>`` then one base64 hash a line.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from .cosignature import cosignature_line, witness_vkey
from .merkle import verify_consistency
from .note import ED25519, NoteCheckpoint, key_hash, parse_note
from .signing import SigningKey, VerifyKey, create_key, load_key, load_signing_key


class WitnessRefusal(Exception):
    """The witness will not cosign: a rollback, a fork, an unknown log or key (HTTP 409, exit 1)."""


@dataclass(frozen=True)
class Proof:
    old_size: int
    hashes: list[bytes]

    def text(self) -> str:
        return f"old {self.old_size}\n" + "".join(base64.b64encode(h).decode("ascii") + "\n" for h in self.hashes)


def parse_proof(text: str, source: str = "the proof") -> Proof:
    lines = [line for line in text.split("\n") if line]
    if not lines or not lines[0].startswith("old ") or not lines[0][4:].isdigit():
        raise UserError(
            f"{source} is not a consistency proof (first line `old <size>`): make it with `llm-audit checkpoint --witness`"
        )
    try:
        hashes = [base64.b64decode(line, validate=True) for line in lines[1:]]
    except (binascii.Error, ValueError):
        raise UserError(f"{source}: a proof line is not base64") from None
    return Proof(int(lines[0][4:]), hashes)


def parse_log_key(text: str, source: str) -> VerifyKey:
    """A log's key: a PEM file, or a signed-note verifier key ``name+hash+base64(0x01||key)``."""
    path = Path(text)
    if path.is_file():
        return load_key(path)
    parts = text.strip().split("+", 2)
    try:
        raw = base64.b64decode(parts[2], validate=True) if len(parts) == 3 else b""
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 33 or raw[:1] != ED25519:
        raise UserError(
            f"{source} is neither a key file nor a verifier key: pass the log's .pub.pem (`llm-audit key --public-key`)"
        )
    key = VerifyKey.from_raw_hex(raw[1:].hex(), source)
    if key_hash(parts[0], key).hex() != parts[1]:
        raise UserError(f"{source}: the key hash does not match the name and key")
    return key


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(path.name + ".tmp")
    staging.write_text(text, encoding="utf-8")
    os.replace(staging, path)


class Witness:
    """The witness whose state lives in ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        config = self.folder / "witness.json"
        if not config.is_file():
            raise UserError(
                f"{self.folder} is not a witness folder: make one with `llm-audit witness init --name NAME --dir {self.folder}`"
            )
        self.name = str(json.loads(config.read_text(encoding="utf-8"))["name"])

    @classmethod
    def init(cls, folder: Path, name: str) -> Witness:
        if not name or any(c.isspace() or c == "+" for c in name):
            raise UserError(
                f"witness name {name!r} must be non-empty with no spaces or '+' (e.g. internal-audit.example/w1)"
            )
        folder = Path(folder)
        if (folder / "witness.json").exists():
            raise UserError(f"{folder} is already a witness folder: use it, or pass another --dir")
        folder.mkdir(parents=True, exist_ok=True)
        key = create_key(folder / "witness.key.pem")
        _write_atomic(folder / "witness.json", json.dumps({"name": name}) + "\n")
        _write_atomic(folder / "witness.vkey", witness_vkey(name, key) + "\n")
        return cls(folder)

    @property
    def key(self) -> SigningKey:
        return load_signing_key(self.folder / "witness.key.pem")

    @property
    def vkey(self) -> str:
        return witness_vkey(self.name, self.key)

    def _logs(self) -> dict[str, str]:
        path = self.folder / "logs.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}

    def trust(self, origin: str, key: VerifyKey) -> None:
        logs = self._logs()
        logs[origin] = key.raw.hex()
        _write_atomic(self.folder / "logs.json", json.dumps(logs, indent=1, sort_keys=True) + "\n")

    def _state_path(self, origin: str) -> Path:
        return self.folder / "state" / (hashlib.sha256(origin.encode("utf-8")).hexdigest()[:32] + ".note")

    def last(self, origin: str) -> NoteCheckpoint | None:
        """The last checkpoint this witness cosigned for ``origin``."""
        path = self._state_path(origin)
        return parse_note(path.read_text(encoding="utf-8"), str(path)) if path.is_file() else None

    def cosign(self, note_text: str, proof: Proof, now: int | None = None) -> str:
        """The note with this witness's cosignature line added, once it is proven to extend the last one."""
        note = parse_note(note_text, "the checkpoint")
        logs = self._logs()
        if note.origin not in logs:
            raise WitnessRefusal(
                f"witness {self.name} was not told the key of log {note.origin}: `llm-audit witness trust`"
            )
        log_key = VerifyKey.from_raw_hex(logs[note.origin], "the log key")
        if note.signed_by([log_key]) is None:
            raise WitnessRefusal(
                f"the checkpoint of size {note.tree_size} is not signed by the key of log {note.origin}"
            )
        last = self.last(note.origin)
        old_size, old_root = (last.tree_size, last.root) if last else (0, b"")
        if note.tree_size < old_size:
            raise WitnessRefusal(
                f"rollback: witness {self.name} already cosigned size {old_size} of {note.origin}, this checkpoint has {note.tree_size}"
            )
        if last is not None and proof.old_size != old_size:
            raise WitnessRefusal(
                f"the proof starts at size {proof.old_size}; witness {self.name} last cosigned size {old_size}: prove from it"
            )
        if last is not None and not verify_consistency(old_size, note.tree_size, old_root, note.root, proof.hashes):
            raise WitnessRefusal(
                f"fork: the checkpoint of size {note.tree_size} does not extend size {old_size} that witness {self.name} cosigned (consistency proof fails)"
            )
        timestamp = int(time.time()) if now is None else now
        line = cosignature_line(note.body, self.name, self.key, timestamp)
        cosigned = note_text.rstrip("\n") + "\n" + line + "\n"
        _write_atomic(self._state_path(note.origin), cosigned)
        return cosigned
