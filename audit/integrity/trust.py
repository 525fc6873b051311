"""The trust file: the public keys a verifier pins, kept apart from the databases (like SSH's known_hosts).

One line per pin. A log pin, ``<origin> <key id> ed25519 <base64 raw public key> <name>``, pins
one log (its C2SP origin line, ``llm-audit/<32 hex>``) to a key: the log must be signed by that
key or one it handed over to, else it is TAMPERED. A key pin (the 0.2 form, without an origin)
pins the logs that key signs. A log the trust file says nothing about is UNPINNED, never
TAMPERED: another log's pin says nothing about it. The first checkpoint of a new log signed on
this machine pins it (:func:`pin_new_log`, printed once, like SSH's first connection). ``#``
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
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from .key_location import default_trust_file, ensure_private_dir, shares_folder
from .signing import VerifyKey, load_key

HEADER = (
    "# llm-audit trusted signing keys: one Ed25519 public key per line (like ~/.ssh/known_hosts)\n"
    "# [<log origin>] <key id> ed25519 <base64 raw public key> <name>   (no origin: every log the key signs)\n"
)


@dataclass(frozen=True)
class TrustedKey:
    key_id: str
    public_hex: str
    name: str
    origin: str | None = None  # the one log this pin is for (None: a key pin, for the logs the key signs)

    def verify_key(self, source: str) -> VerifyKey:
        return VerifyKey.from_raw_hex(self.public_hex, source)

    def line(self) -> str:
        encoded = base64.b64encode(bytes.fromhex(self.public_hex)).decode("ascii")
        prefix = f"{self.origin} " if self.origin else ""
        return f"{prefix}{self.key_id} ed25519 {encoded} {self.name}".rstrip()


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
        origin = None
        if "/" in line.split(maxsplit=1)[0]:  # a log pin: the origin first
            origin, line = line.split(maxsplit=1)[0], line.split(maxsplit=1)[1] if len(line.split()) > 1 else ""
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
        return TrustedKey(key.key_id, raw.hex(), parts[3].strip() if len(parts) > 3 else "", origin)

    def add(self, key_file: Path, name: str | None = None, origin: str | None = None) -> tuple[TrustedKey, bool]:
        """Trust the public key in ``key_file`` (a public or private PEM), for the log ``origin`` (None: for the logs it
        signs); ``(entry, added)``, False if already there."""
        key = load_key(Path(key_file))
        label = (name or Path(key_file).name).replace("\n", " ").strip()
        return self.pin(VerifyKey.from_raw_hex(key.raw.hex(), str(key_file)), label, origin)

    def pin(self, key: VerifyKey, name: str, origin: str | None = None) -> tuple[TrustedKey, bool]:
        entries = self.entries()
        for entry in entries:
            if entry.key_id == key.key_id and entry.origin == origin:
                return entry, False
        entry = TrustedKey(key.key_id, key.raw.hex(), name.replace("\n", " ").strip(), origin)
        self._write([*entries, entry])
        return entry, True

    def for_log(self, origin: str) -> list[TrustedKey]:
        """The log pins of ``origin``."""
        return [e for e in self.entries() if e.origin == origin]

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
    unpinned_because: str | None = None  # why a log with a trust file is still unpinned (said on every result)

    @property
    def pinned(self) -> bool:
        return bool(self.keys)

    @property
    def key_ids(self) -> set[str]:
        return {k.key_id for k in self.keys}


@dataclass(frozen=True)
class LogIdentity:
    """Who a log is (its origin) and which keys its checkpoints and key transitions name: what picks its pins."""

    origin: str | None
    key_ids: frozenset[str] = frozenset()


def resolve_pins(
    db_path: Path | None,
    keys: list[Path] | tuple[Path, ...] = (),
    trust_file: Path | str | None = None,
    log: LogIdentity | None = None,
) -> Pins:
    """``--key`` files when given, else the trust file's pins of this log (a missing or empty trust file: unpinned).

    Of the trust file, a log is pinned by its log pins (its origin), else by the key pins whose key signed it;
    a log the trust file names neither way is unpinned, whatever other logs it pins. Without ``log`` (a caller
    that does not know which log) every pin counts, as before 0.3.
    """
    if keys:
        loaded = tuple(load_key(Path(k)) for k in keys)
        return Pins(loaded, "--key " + ", ".join(str(k) for k in keys))
    trust = TrustFile(trust_file)
    entries = trust.entries()
    if not entries:
        return Pins()
    source = f"trust file {trust.path}"
    if log is not None:
        by_log = [e for e in entries if log.origin is not None and e.origin == log.origin]
        by_key = [e for e in entries if e.origin is None and e.key_id in log.key_ids]
        if by_log:
            entries, source = by_log, f"trust file {trust.path}, pinned for log {log.origin}"
        elif by_key:
            entries = by_key
        else:
            return Pins(
                unpinned_because=f"{trust.path} pins other logs, not this one ({log.origin or 'an empty log'}): pin it "
                "with `llm-audit trust add KEY.pub.pem --db DB`"
            )
    warning = None
    if db_path is not None and shares_folder(db_path, trust.path):
        warning = (
            f"the trust file {trust.path} is in the database's folder, within reach of whoever can write the "
            "database: keep it elsewhere (the default is under ~/.config/llm-audit)"
        )
    loaded = tuple(e.verify_key(f"trusted key {e.key_id} ({e.name})") for e in entries)
    return Pins(loaded, source, warning)


def pin_new_log(
    origin: str, key: VerifyKey, trust_file: Path | str | None = None, *, first: bool = True
) -> TrustedKey | None:
    """Pin ``key`` for the new log ``origin`` unless the trust file already pins that log (first use, like SSH);
    the entry when one was added. Printed once on stderr, so a person sees which key now vouches for the log.
    ``first`` False (a later checkpoint): only migrates a 0.2 key pin of ``key`` to a pin of this log."""
    trust = TrustFile(trust_file)
    try:
        entries = trust.entries()
        if any(e.origin == origin for e in entries):
            return None
        if not first and not any(e.origin is None and e.key_id == key.key_id for e in entries):
            return None
        name = f"created on this machine for {origin}" if first else f"migrated from the key pin of {key.key_id}"
        entry, added = trust.pin(key, name, origin)
    except UserError as exc:
        print(f"llm-audit: the new log {origin} is not pinned: {exc}", file=sys.stderr)
        return None
    if added:
        print(
            f"llm-audit: pinned key {key.key_id} for the new log {origin} in {trust.path} (first use); validators "
            "elsewhere pin it with `llm-audit key --public-key FILE` and `llm-audit trust add FILE --db DB`",
            file=sys.stderr,
        )
    return entry if added else None
