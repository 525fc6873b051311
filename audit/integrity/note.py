"""Checkpoints as C2SP signed notes (``tlog-checkpoint``), for copies kept outside the database.

A checkpoint exported with ``llm-audit checkpoint --export FILE`` is the text of
https://c2sp.org/tlog-checkpoint (the origin, the tree size in decimal, the base64 Merkle
root, each on its own line) followed by a blank line and one signature line of
https://c2sp.org/signed-note: ``— <key name> <base64(4-byte key hash || Ed25519 signature)>``,
the key hash being the first 4 bytes of SHA-256(name || 0x0A || 0x01 || public key). Any
tool that reads signed notes (Go's ``golang.org/x/mod/sumdb/note``, transparency-dev's
``formats/log``) can check it. The key name is the origin.

The origin names the log: ``llm-audit/`` followed by the first 32 hex digits of the leaf hash
of the log's first event, which every later event commits to, so a checkpoint of another log
(or of a log rebuilt from scratch) is recognised as such.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError
from .signing import SigningKey, VerifyKey

ORIGIN_PREFIX = "llm-audit/"
SIGNATURE_PREFIX = "\u2014 "  # an em dash and a space
ED25519 = b"\x01"


def origin_of(first_leaf_hex: str) -> str:
    return ORIGIN_PREFIX + first_leaf_hex[:32]


def checkpoint_body(origin: str, tree_size: int, root: bytes) -> str:
    return f"{origin}\n{tree_size}\n{base64.b64encode(root).decode('ascii')}\n"


def key_hash(name: str, key: VerifyKey) -> bytes:
    return hashlib.sha256(name.encode("utf-8") + b"\n" + ED25519 + key.raw).digest()[:4]


def vkey(name: str, key: VerifyKey) -> str:
    """The signed-note verifier key string ``<name>+<hex key hash>+<base64(0x01 || key)>``."""
    return f"{name}+{key_hash(name, key).hex()}+{base64.b64encode(ED25519 + key.raw).decode('ascii')}"


def sign_note(body: str, name: str, key: SigningKey) -> str:
    signature = bytes.fromhex(key.sign(body.encode("utf-8")))
    encoded = base64.b64encode(key_hash(name, key) + signature).decode("ascii")
    return f"{body}\n{SIGNATURE_PREFIX}{name} {encoded}\n"


@dataclass(frozen=True)
class NoteSignature:
    name: str
    key_hash: bytes
    signature: bytes


@dataclass
class NoteCheckpoint:
    origin: str
    tree_size: int
    root: bytes
    body: str
    signatures: list[NoteSignature] = field(default_factory=list)
    source: str = ""

    def signed_by(self, keys: tuple[VerifyKey, ...] | list[VerifyKey]) -> VerifyKey | None:
        """The first of ``keys`` with a valid signature line on this note, or None."""
        for sig in self.signatures:
            for key in keys:
                if key_hash(sig.name, key) == sig.key_hash and key.verify(sig.signature.hex(), self.body.encode()):
                    return key
        return None


def parse_note(text: str, source: str = "the checkpoint") -> NoteCheckpoint:
    """Read a C2SP checkpoint note; a malformed one is a UserError naming what is wrong."""
    split = text.rfind("\n\n")
    if split < 0:
        raise UserError(f"{source} is not a signed note (no blank line before the signatures): export it again")
    body, block = text[: split + 1], text[split + 2 :]
    lines = body.split("\n")[:-1]
    if len(lines) < 3:
        raise UserError(f"{source} is not a tlog checkpoint (needs origin, tree size and root lines)")
    origin, size_text, root_text = lines[:3]
    if not size_text.isdigit() or (size_text.startswith("0") and size_text != "0"):
        raise UserError(f"{source}: tree size {size_text!r} is not a decimal number")
    try:
        root = base64.b64decode(root_text, validate=True)
    except (binascii.Error, ValueError):
        root = b""
    if len(root) != 32:
        raise UserError(f"{source}: the root hash line is not the base64 of 32 bytes")
    signatures = []
    for line in block.split("\n"):
        if not line:
            continue
        if not line.startswith(SIGNATURE_PREFIX) or len(line.split(" ")) != 3:
            raise UserError(f"{source}: {line[:40]!r} is not a signature line ('— <name> <base64>')")
        _, name, encoded = line.split(" ")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise UserError(f"{source}: the signature of {name!r} is not base64") from None
        if len(raw) == 68:  # key hash + Ed25519 signature; other algorithms are not ours to check
            signatures.append(NoteSignature(name, raw[:4], raw[4:]))
    if not signatures:
        raise UserError(
            f"{source} carries no Ed25519 signature line: export it again with `llm-audit checkpoint --export`"
        )
    return NoteCheckpoint(origin, int(size_text), root, body, signatures, source)


def read_note(path: Path) -> NoteCheckpoint:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot read checkpoint file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UserError(
            f"{path} is not a text checkpoint: pass a file written by `llm-audit checkpoint --export`"
        ) from None
    return parse_note(text, str(path))
