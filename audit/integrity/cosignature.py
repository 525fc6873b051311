"""C2SP tlog-cosignature/v1 lines: a witness's timestamped Ed25519 signature over a checkpoint body.

https://c2sp.org/tlog-cosignature: the signed message is ``cosignature/v1\\ntime <unix seconds>\\n``
followed by the checkpoint body; the note signature line is ``— <witness name> base64(key hash(4)
|| timestamp(8, big-endian) || signature(64))``, the key hash being the first 4 bytes of
SHA-256(name || 0x0A || 0x04 || public key) (0x04 is the cosignature/v1 type of C2SP signed-note).
The verifier key string is ``<name>+<hex key hash>+<base64(0x04 || public key)>``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from .note import SIGNATURE_PREFIX
from .signing import SigningKey, VerifyKey

COSIGNATURE_V1 = b"\x04"


def cosignature_key_hash(name: str, key: VerifyKey) -> bytes:
    return hashlib.sha256(name.encode("utf-8") + b"\n" + COSIGNATURE_V1 + key.raw).digest()[:4]


def cosignature_message(body: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n".encode() + body.encode("utf-8")


def witness_vkey(name: str, key: VerifyKey) -> str:
    raw = base64.b64encode(COSIGNATURE_V1 + key.raw).decode("ascii")
    return f"{name}+{cosignature_key_hash(name, key).hex()}+{raw}"


def cosignature_line(body: str, name: str, key: SigningKey, timestamp: int) -> str:
    signature = bytes.fromhex(key.sign(cosignature_message(body, timestamp)))
    raw = cosignature_key_hash(name, key) + timestamp.to_bytes(8, "big") + signature
    return f"{SIGNATURE_PREFIX}{name} {base64.b64encode(raw).decode('ascii')}"


@dataclass(frozen=True)
class WitnessKey:
    """A witness the verifier trusts: its name and public key (from its vkey)."""

    name: str
    key: VerifyKey


@dataclass(frozen=True)
class Cosignature:
    name: str
    key_hash: bytes
    timestamp: int
    signature: bytes

    def valid_for(self, body: str, witness: WitnessKey) -> bool:
        return (
            self.name == witness.name
            and self.key_hash == cosignature_key_hash(witness.name, witness.key)
            and witness.key.verify(self.signature.hex(), cosignature_message(body, self.timestamp))
        )


def cosignatures(text: str) -> list[Cosignature]:
    """The cosignature/v1 lines of a signed note (76 bytes once decoded); other lines are not ours to read."""
    found = []
    for line in text[text.rfind("\n\n") + 2 :].split("\n"):
        parts = line.split(" ")
        if not line.startswith(SIGNATURE_PREFIX) or len(parts) != 3:
            continue
        try:
            raw = base64.b64decode(parts[2], validate=True)
        except (binascii.Error, ValueError):
            continue
        if len(raw) == 76:
            found.append(Cosignature(parts[1], raw[:4], int.from_bytes(raw[4:12], "big"), raw[12:]))
    return found


def parse_witness_vkey(text: str, source: str = "the witness key") -> WitnessKey:
    """``name+hash+base64(0x04||key)``, or a file holding one; a wrong one is a UserError naming the fix."""
    text = text.strip()
    path = Path(text)
    if "+" not in text and path.is_file():
        text = path.read_text(encoding="utf-8").strip()
    parts = text.split("+", 2)
    fix = "pass the line `llm-audit witness init` printed (or the file witness.vkey in the witness folder)"
    if len(parts) != 3:
        raise UserError(f"{source} is not a witness verifier key (name+hash+key): {fix}")
    name, hash_hex, encoded = parts
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 33 or raw[:1] != COSIGNATURE_V1:
        raise UserError(f"{source} is not an Ed25519 cosignature/v1 key: {fix}")
    key = VerifyKey.from_raw_hex(raw[1:].hex(), source)
    if cosignature_key_hash(name, key).hex() != hash_hex:
        raise UserError(f"{source}: the key hash does not match the name and key: {fix}")
    return WitnessKey(name, key)
