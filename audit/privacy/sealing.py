"""AES-256-GCM envelopes bound to a record and a field.

The associated data names the record id and the field, so a ciphertext copied onto
another record or into another field fails authentication instead of decrypting to the
wrong person's data. The plaintext is JSON; the envelope is JSON-safe (base64).
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ALGORITHM = "AES-256-GCM"


class SealBroken(Exception):
    """The ciphertext does not authenticate under this key, record and field."""


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"))


def _aad(record_id: str, field: str) -> bytes:
    return f"llm-audit/seal/v1|{record_id}|{field}".encode()


def seal(key: bytes, record_id: str, field: str, value: Any) -> dict[str, str]:
    nonce = os.urandom(12)
    plaintext = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return {
        "alg": ALGORITHM,
        "field": field,
        "nonce": b64(nonce),
        "ciphertext": b64(AESGCM(key).encrypt(nonce, plaintext, _aad(record_id, field))),
    }


def open_sealed(key: bytes, record_id: str, envelope: dict[str, str]) -> Any:
    try:
        plaintext = AESGCM(key).decrypt(
            unb64(envelope["nonce"]), unb64(envelope["ciphertext"]), _aad(record_id, envelope["field"])
        )
    except (InvalidTag, KeyError, ValueError) as exc:
        raise SealBroken(f"sealed {envelope.get('field')} of {record_id} does not authenticate") from exc
    return json.loads(plaintext.decode("utf-8"))


def wrap_key(subject_key: bytes, subject_ref: str, record_id: str, data_key: bytes) -> dict[str, str]:
    """A record's data key encrypted under its subject's key (AD: subject and record)."""
    nonce = os.urandom(12)
    aad = f"llm-audit/key/v1|{subject_ref}|{record_id}".encode()
    return {"nonce": b64(nonce), "wrapped": b64(AESGCM(subject_key).encrypt(nonce, data_key, aad))}


def unwrap_key(subject_key: bytes, subject_ref: str, record_id: str, wrapped: dict[str, str]) -> bytes:
    aad = f"llm-audit/key/v1|{subject_ref}|{record_id}".encode()
    try:
        return AESGCM(subject_key).decrypt(unb64(wrapped["nonce"]), unb64(wrapped["wrapped"]), aad)
    except (InvalidTag, KeyError, ValueError) as exc:
        raise SealBroken(f"the data key of {record_id} does not unwrap under subject {subject_ref}") from exc
