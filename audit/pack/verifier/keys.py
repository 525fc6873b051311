"""Public keys as a recipient holds them (PEM files, C2SP verifier keys) and Ed25519 signature checks."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .formats import CannotCheck


def ed25519_ok(public: bytes, signature: bytes, message: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
        return True
    except (InvalidSignature, ValueError):
        return False


def key_id(public: bytes) -> str:
    return hashlib.sha256(public).hexdigest()[:16]


def load_pem(path: Path) -> bytes:
    """The raw Ed25519 public key of a PEM file (a public key, or a private one whose public half is taken)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CannotCheck(f"cannot read key file {path}: {exc.strerror}") from None
    try:
        key: Any = serialization.load_pem_public_key(data)
    except ValueError:
        try:
            key = serialization.load_pem_private_key(data, password=None).public_key()
        except (ValueError, TypeError):
            raise CannotCheck(f"{path} is not a PEM Ed25519 key: pass the log's public key (KEY.pub.pem)") from None
    if not isinstance(key, Ed25519PublicKey):
        raise CannotCheck(f"{path} is not an Ed25519 key: pass the log's public key")
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def parse_vkey(text: str) -> tuple[str, bytes, bytes]:
    """A C2SP verifier key ``name+hexhash+base64(type||key)`` as (name, 4-byte key hash, raw key)."""
    try:
        name, hash_hex, encoded = text.strip().split("+", 2)
        raw = base64.b64decode(encoded, validate=True)
        if len(raw) != 33 or raw[0] not in (1, 4):
            raise ValueError
        return name, bytes.fromhex(hash_hex), raw[1:]
    except ValueError:
        raise CannotCheck(f"{text[:40]!r} is not a witness key (name+hash+base64 key)") from None
