"""Ed25519 checkpoint signatures, key-transition statements and the key file they come from.

A checkpoint signs the text ``llm-audit checkpoint v1\\n<tree size>\\n<root hex>\\n<time>\\n``
(in the spirit of CT's signed tree heads and Go's signed notes: plain text, so a person
can check it with any Ed25519 tool). The key id is the first 16 hex digits of SHA-256 of
the raw 32-byte public key. A key change is a statement signed by the old key (and by the
new one, proving it is held) that names the new public key and the leaf hash the log had
just before it (:func:`transition_message`), so it cannot be replayed into another log or
another place in this one. Where the key file is by default: :mod:`.key_location`.

The private key is created on first use as PKCS#8 PEM, mode 0600, written to a temporary
file and hard-linked into place so that two processes starting at once end up sharing
one key instead of racing to write two. A file given as the key may also be a public key
(PEM): enough to verify, not to sign, which is what a validator needs.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..errors import UserError

HOW_TO_POINT = "pass --signing-key FILE or set $LLM_AUDIT_SIGNING_KEY"


def checkpoint_message(tree_size: int, root_hex: str, signed_at: str) -> bytes:
    return f"llm-audit checkpoint v1\n{tree_size}\n{root_hex}\n{signed_at}\n".encode("ascii")


def transition_message(old_key_id: str, new_public_hex: str, prev_leaf_hex: str) -> bytes:
    """What both keys sign when the log's signing key changes: old id, new key, the log's position."""
    return f"llm-audit key-transition v1\n{old_key_id}\n{new_public_hex}\n{prev_leaf_hex}\n".encode("ascii")


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id_of(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()[:16]


@dataclass(frozen=True)
class VerifyKey:
    """A public key that checkpoints are checked against."""

    public: Ed25519PublicKey
    source: str  # where it came from, for messages

    @property
    def raw(self) -> bytes:
        return raw_public(self.public)

    @property
    def key_id(self) -> str:
        return key_id_of(self.raw)

    def verify(self, signature_hex: str, message: bytes) -> bool:
        try:
            self.public.verify(bytes.fromhex(signature_hex), message)
            return True
        except (InvalidSignature, ValueError):
            return False

    def public_pem(self) -> str:
        return self.public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    @classmethod
    def from_raw_hex(cls, public_hex: str, source: str) -> VerifyKey:
        try:
            return cls(Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_hex)), source)
        except ValueError:
            raise UserError(f"{source}: not an Ed25519 public key") from None


@dataclass(frozen=True)
class SigningKey(VerifyKey):
    private: Ed25519PrivateKey | None = None

    def sign(self, message: bytes) -> str:
        assert self.private is not None
        return self.private.sign(message).hex()


def _parse(data: bytes, path: Path) -> VerifyKey:
    try:
        private = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        private = None
    if private is not None:
        if not isinstance(private, Ed25519PrivateKey):
            raise UserError(
                f"key file {path} holds a {type(private).__name__}, not an Ed25519 key: pass an llm-audit key file"
            )
        return SigningKey(private.public_key(), str(path), private)
    try:
        public = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        raise UserError(
            f"key file {path} is not a PEM Ed25519 key: pass the key llm-audit created (or its public key)"
        ) from None
    if not isinstance(public, Ed25519PublicKey):
        raise UserError(f"key file {path} holds a {type(public).__name__}, not an Ed25519 key")
    return VerifyKey(public, str(path))


def load_key(path: Path) -> VerifyKey:
    """Read a private or public key; refuse a private key others can read."""
    try:
        data = path.read_bytes()
        mode = path.stat().st_mode
    except OSError as exc:
        raise UserError(f"cannot read key file {path}: {exc.strerror}: {HOW_TO_POINT}, or --key to verify") from None
    key = _parse(data, path)
    if isinstance(key, SigningKey) and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise UserError(
            f"private key {path} is accessible by other users (mode {stat.S_IMODE(mode):04o}): run chmod 600 {path}"
        )
    return key


def load_signing_key(path: Path) -> SigningKey:
    key = load_key(path)
    if not isinstance(key, SigningKey):
        raise UserError(f"key file {path} is a public key: signing a checkpoint needs the private key")
    return key


def create_key(path: Path) -> SigningKey:
    """Create a new private key at ``path`` (0600); if another process won the race, load theirs."""
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    folder = path.resolve().parent
    if not folder.is_dir():
        raise UserError(f"folder {folder} for the signing key does not exist: create it, or {HOW_TO_POINT}")
    tmp = folder / f".{path.name}.{os.getpid()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return load_signing_key(path)
    except OSError as exc:
        raise UserError(
            f"cannot create signing key {path}: {exc.strerror}: {HOW_TO_POINT} with a writable path"
        ) from None
    finally:
        tmp.unlink(missing_ok=True)
    return SigningKey(private.public_key(), str(path), private)


def obtain_signing_key(path: Path, expected_key_id: str | None) -> SigningKey:
    """The key to sign the next checkpoint with: the file at ``path``, created on first use.

    A new key is only minted for a log no key has signed yet; once a log has a signing key
    (``expected_key_id``: its first checkpoint's, or the last key-transition's), signing with
    another would split the log's trust, so it is refused and the user told which key id is
    expected. Changing keys is ``llm-audit rotate-key``, which the old key signs.
    """
    if not path.exists():
        if expected_key_id is not None:
            raise UserError(
                f"signing key {path} is missing but this log is signed by key id {expected_key_id}: "
                f"{HOW_TO_POINT} to that key file"
            )
        return create_key(path)
    key = load_signing_key(path)
    if expected_key_id is not None and key.key_id != expected_key_id:
        raise UserError(
            f"key {path} (id {key.key_id}) is not this log's signing key (key id {expected_key_id}): "
            f"{HOW_TO_POINT} to the right key file (changing keys is `llm-audit rotate-key`)"
        )
    return key
