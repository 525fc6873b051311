"""The trust file: the public keys a verifier pins, kept apart from the databases (like SSH's known_hosts).

One line per key: ``<key id> ed25519 <base64 of the raw 32-byte public key> <name>``; ``#``
starts a comment. ``llm-audit trust add signing.pub.pem`` appends one, ``trust list`` shows
them, ``trust remove KEY_ID`` drops one. Where: ``--trust-file``, else ``$LLM_AUDIT_TRUST_FILE``,
else ``trusted_keys`` beside the key directory (:mod:`.key_location`). The file is written
atomically (temporary file, then rename), mode 0644 in a folder of mode 0700.

:class:`Pins` is what verification checks against: the keys of ``--key`` files when given,
else those of the trust file, else none (unpinned, which every result then says).
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from .key_location import default_trust_file, ensure_private_dir, shares_folder
from .signing import VerifyKey, load_key

HEADER = (
    "# llm-audit trusted signing keys: one Ed25519 public key per line (like ~/.ssh/known_hosts)\n"
    "# <key id> ed25519 <base64 raw public key> <name>\n"
)


@dataclass(frozen=True)
class TrustedKey:
    key_id: str
    public_hex: str
    name: str

    def verify_key(self, source: str) -> VerifyKey:
        return VerifyKey.from_raw_hex(self.public_hex, source)

    def line(self) -> str:
        encoded = base64.b64encode(bytes.fromhex(self.public_hex)).decode("ascii")
        return f"{self.key_id} ed25519 {encoded} {self.name}".rstrip()


class TrustFile:
    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else default_trust_file()

    def entries(self) -> list[TrustedKey]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"cannot read trust file {self.path} ({exc}): fix it or pass --trust-file") from None
        found = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            found.append(self._parse(line, number))
        return found

    def _parse(self, line: str, number: int) -> TrustedKey:
        parts = line.split(maxsplit=3)
        where = f"trust file {self.path} line {number}"
        if len(parts) < 3 or parts[1] != "ed25519":
            raise UserError(f"{where} is not '<key id> ed25519 <base64 key> <name>': fix or remove it")
        try:
            raw = base64.b64decode(parts[2], validate=True)
        except (binascii.Error, ValueError):
            raise UserError(f"{where}: the key is not base64: fix or remove the line") from None
        if len(raw) != 32:
            raise UserError(f"{where}: an Ed25519 public key has 32 bytes, not {len(raw)}: fix or remove the line")
        key = VerifyKey.from_raw_hex(raw.hex(), where)
        if key.key_id != parts[0]:
            raise UserError(f"{where}: key id {parts[0]} does not match its key ({key.key_id}): fix or remove the line")
        return TrustedKey(key.key_id, raw.hex(), parts[3].strip() if len(parts) > 3 else "")

    def add(self, key_file: Path, name: str | None = None) -> tuple[TrustedKey, bool]:
        """Trust the public key in ``key_file`` (a public or private PEM); ``(entry, added)``, False if already there."""
        key = load_key(Path(key_file))
        entries = self.entries()
        for entry in entries:
            if entry.key_id == key.key_id:
                return entry, False
        label = (name or Path(key_file).name).replace("\n", " ").strip()
        entry = TrustedKey(key.key_id, key.raw.hex(), label)
        self._write([*entries, entry])
        return entry, True

    def remove(self, key_id: str) -> TrustedKey:
        """Stop trusting the key whose id is (or starts with, 4+ characters) ``key_id``."""
        entries = self.entries()
        wanted = key_id.strip().lower()
        matches = [e for e in entries if e.key_id == wanted or (len(wanted) >= 4 and e.key_id.startswith(wanted))]
        if len(matches) != 1:
            known = ", ".join(e.key_id for e in entries) or "none"
            raise UserError(
                f"{'no' if not matches else 'more than one'} trusted key matches {key_id!r} in {self.path} "
                f"(trusted: {known}): run `llm-audit trust list`"
            )
        self._write([e for e in entries if e is not matches[0]])
        return matches[0]

    def _write(self, entries: list[TrustedKey]) -> None:
        if not self.path.parent.exists():
            ensure_private_dir(self.path.parent)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(HEADER + "".join(e.line() + "\n" for e in entries), encoding="utf-8")
            os.chmod(tmp, 0o644)
            os.replace(tmp, self.path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise UserError(f"cannot write trust file {self.path}: {exc.strerror}: pass --trust-file") from None


@dataclass(frozen=True)
class Pins:
    """The keys verification is pinned to, and where they came from (empty: unpinned)."""

    keys: tuple[VerifyKey, ...] = ()
    source: str = ""  # "--key demo.pub.pem" | "trust file /home/u/.config/llm-audit/trusted_keys"
    warning: str | None = None  # e.g. the trust file sits beside the database

    @property
    def pinned(self) -> bool:
        return bool(self.keys)

    @property
    def key_ids(self) -> set[str]:
        return {k.key_id for k in self.keys}


def resolve_pins(
    db_path: Path | None, keys: list[Path] | tuple[Path, ...] = (), trust_file: Path | str | None = None
) -> Pins:
    """``--key`` files when given, else the trust file's keys (a missing or empty trust file: unpinned)."""
    if keys:
        loaded = tuple(load_key(Path(k)) for k in keys)
        return Pins(loaded, "--key " + ", ".join(str(k) for k in keys))
    trust = TrustFile(trust_file)
    entries = trust.entries()
    if not entries:
        return Pins()
    warning = None
    if db_path is not None and shares_folder(db_path, trust.path):
        warning = (
            f"the trust file {trust.path} is in the database's folder, within reach of whoever can write the "
            "database: keep it elsewhere (the default is under ~/.config/llm-audit)"
        )
    loaded = tuple(e.verify_key(f"trusted key {e.key_id} ({e.name})") for e in entries)
    return Pins(loaded, f"trust file {trust.path}", warning)
