"""The key store: the only place keys live, so that destroying one really makes data unreadable.

The database is append-only (and its log hash-chained), so nothing that must be destroyable
may live there. A JSON file (mode 0600) holds one key per data subject and, per record, the
record's data key wrapped by its subject key; erasing a record drops its wrapped key,
erasing a subject drops the subject key with all its wrapped keys. A pseudonym key (HMAC)
turns subject ids into the references the database stores, so the clear id never reaches it.

Where: ``--key-store PATH``, else ``$LLM_AUDIT_KEY_STORE``, else ``<database>.keys.json``.
``$LLM_AUDIT_KEYS`` may instead hold the store's JSON itself (e.g. from a secrets manager);
it is then read-only: reading sealed records works, recording new subjects and erasing do not.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..clock import utc_iso
from ..errors import UserError
from .sealing import b64, unb64, unwrap_key, wrap_key

ENV_PATH = "LLM_AUDIT_KEY_STORE"
ENV_CONTENT = "LLM_AUDIT_KEYS"
FORMAT = "llm-audit-keys/1"
HOW_TO_SUPPLY = f"pass --key-store PATH (or set ${ENV_PATH}, or the store's JSON in ${ENV_CONTENT})"


def default_key_store_path(db_path: Path) -> Path:
    return Path(os.environ[ENV_PATH]) if os.environ.get(ENV_PATH) else db_path.with_name(db_path.name + ".keys.json")


def check_permissions(path: Path) -> None:
    """Refuse a key store that anyone but its owner can read or write."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return
    if stat.S_IMODE(mode) & 0o077:
        raise UserError(
            f"key store {path} is readable or writable by group/others (mode {stat.S_IMODE(mode):04o}): run chmod 600 {path}"
        )


class KeyMissing(Exception):
    """The key for a subject or record is not in this store (never created here, or erased)."""


@dataclass
class KeyStore:
    path: Path | None  # None: supplied through the environment, read-only
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def open(cls, path: Path) -> KeyStore:
        """The store at ``path`` (empty if the file does not exist yet), or the environment's."""
        content = os.environ.get(ENV_CONTENT)
        if content:
            try:
                data = json.loads(content)
            except ValueError:
                raise UserError(
                    f"${ENV_CONTENT} is not a key store (not JSON): unset it or put the key store's JSON in it"
                ) from None
            return cls(None, cls._checked(data, f"${ENV_CONTENT}"))
        check_permissions(path)
        if not path.exists():
            return cls(path, {"format": FORMAT, "subjects": {}})
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UserError(f"cannot read key store {path} ({exc}): {HOW_TO_SUPPLY}") from None
        return cls(path, cls._checked(data, str(path)))

    @staticmethod
    def _checked(data: Any, where: str) -> dict[str, Any]:
        if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("subjects"), dict):
            raise UserError(f"{where} is not an llm-audit key store (format {FORMAT}): {HOW_TO_SUPPLY}")
        return data

    # -- writing ------------------------------------------------------------------------------
    def _writable(self) -> Path:
        if self.path is None:
            raise UserError(
                f"the key store comes from ${ENV_CONTENT} and is read-only here: pass --key-store PATH to a writable key store file"
            )
        return self.path

    def save(self) -> None:
        """Write atomically: a 0600 temporary file, fsync, rename over the old one."""
        path = self._writable()
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, json.dumps(self.data, indent=1, sort_keys=True).encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)

    def pseudonym_key(self) -> bytes:
        if "pseudonym_key" not in self.data:
            self._writable()
            self.data["pseudonym_key"] = b64(os.urandom(32))
        return unb64(self.data["pseudonym_key"])

    def subject_ref(self, subject_id: str) -> str:
        """The keyed pseudonym the database stores instead of the subject id."""
        return "subj-" + hmac.new(self.pseudonym_key(), subject_id.encode("utf-8"), hashlib.sha256).hexdigest()[:24]

    def keyed_hash(self, kind: str, value: str) -> str:
        return hmac.new(self.pseudonym_key(), f"{kind}|{value}".encode(), hashlib.sha256).hexdigest()[:10]

    def new_record_key(self, subject_ref: str, record_id: str) -> bytes:
        """A fresh data key for ``record_id``, stored wrapped under the subject's key (created if new)."""
        self._writable()
        subject = self.data["subjects"].setdefault(
            subject_ref, {"key": b64(os.urandom(32)), "created_at": utc_iso(), "records": {}}
        )
        data_key = os.urandom(32)
        subject["records"][record_id] = wrap_key(unb64(subject["key"]), subject_ref, record_id, data_key)
        return data_key

    def erase_record(self, subject_ref: str, record_id: str) -> bool:
        """Drop the record's wrapped key (and the subject key once no record is left); True if it was there."""
        subject = self.data["subjects"].get(subject_ref)
        if subject is None or record_id not in subject["records"]:
            return False
        self._writable()
        del subject["records"][record_id]
        if not subject["records"]:
            del self.data["subjects"][subject_ref]
        return True

    def erase_subject(self, subject_ref: str) -> list[str]:
        """Drop the subject key and every wrapped record key; returns the record ids it covered."""
        subject = self.data["subjects"].get(subject_ref)
        if subject is None:
            return []
        self._writable()
        del self.data["subjects"][subject_ref]
        return sorted(subject["records"])

    # -- reading ------------------------------------------------------------------------------
    def record_key(self, subject_ref: str, record_id: str) -> bytes:
        subject = self.data["subjects"].get(subject_ref)
        if subject is None:
            raise KeyMissing(f"no key for data subject {subject_ref}")
        wrapped = subject["records"].get(record_id)
        if wrapped is None:
            raise KeyMissing(f"no data key for record {record_id} of subject {subject_ref}")
        return unwrap_key(unb64(subject["key"]), subject_ref, record_id, wrapped)

    def has_record(self, subject_ref: str, record_id: str) -> bool:
        return record_id in self.data["subjects"].get(subject_ref, {}).get("records", {})
