"""Where the signing key and the trust file live: apart from the database, like SSH's keys and known_hosts.

Whoever can write the database must not also hold the key that signs it, or a rewritten
history can simply be re-signed. So the default signing key of a database is in a key
directory of its own, mode 0700, under ``$XDG_CONFIG_HOME/llm-audit/keys/`` (else
``~/.config/llm-audit/keys/``), one file per database named after the database's file name
and the SHA-256 of its absolute path (``audit.db.3f2a9c1b7d4e.key``), so two databases never
share a key by accident. ``--signing-key`` or ``$LLM_AUDIT_SIGNING_KEY`` point elsewhere
(``$LLM_AUDIT_KEY``, the name before 0.2, is still read).

Since 0.3 a log's key is named after the log itself (``log-<32 hex of its origin>.key``), so a
moved or copied database finds it; keys named after a database's path are linked under the
log's name when first used.

A key left beside the database by llm-audit 0.1 (``<db>.key``) is still used, so existing
databases keep working, with a warning that names the command that moves it; it is never
moved automatically, because a serving process may still be pointed at it.

The trust file (``trusted_keys`` in the same folder, or ``$LLM_AUDIT_TRUST_FILE``) lists the
public keys a verifier pins (:mod:`.trust`).

Pure: reads the environment and the file system, imports nothing from the store.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from .signing import SigningKey, load_key, obtain_signing_key

ENV_SIGNING_KEY = "LLM_AUDIT_SIGNING_KEY"
ENV_KEY_ALIAS = "LLM_AUDIT_KEY"  # the 0.1 name, read as an alias
ENV_TRUST_FILE = "LLM_AUDIT_TRUST_FILE"
LEGACY_SUFFIX = ".key"
TRUST_FILE_NAME = "trusted_keys"


class LegacyKeyLocationWarning(UserWarning):
    """A signing key found beside its database (llm-audit 0.1's default)."""


def config_dir() -> Path:
    """``$XDG_CONFIG_HOME/llm-audit``, else ``~/.config/llm-audit``."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "llm-audit"


def key_dir() -> Path:
    return config_dir() / "keys"


def default_trust_file() -> Path:
    return Path(os.environ[ENV_TRUST_FILE]) if os.environ.get(ENV_TRUST_FILE) else config_dir() / TRUST_FILE_NAME


def key_file_name(db_path: Path | str) -> str:
    """``<database file name>.<12 hex digits of SHA-256 of its absolute path>.key``: one per database."""
    db = Path(db_path).resolve()
    return f"{db.name}.{hashlib.sha256(str(db).encode('utf-8')).hexdigest()[:12]}.key"


def default_key_path(db_path: Path | str) -> Path:
    """The signing key of ``db_path`` in the key directory (whether or not it exists yet)."""
    return key_dir() / key_file_name(db_path)


def legacy_key_path(db_path: Path | str) -> Path:
    return Path(str(db_path) + LEGACY_SUFFIX)


@dataclass(frozen=True)
class KeyChoice:
    """Which signing key file a command uses and why (for messages)."""

    path: Path
    origin: (
        str  # "--signing-key", "$LLM_AUDIT_SIGNING_KEY", "$LLM_AUDIT_KEY", "key directory", "beside the database (0.1)"
    )

    @property
    def in_key_dir(self) -> bool:
        return self.origin == "key directory"


def move_command(legacy: Path, target: Path) -> str:
    """The shell command that moves a 0.1 key into the key directory."""
    folder = shlex.quote(str(target.parent))
    return f"mkdir -p -m 700 {folder} && mv {shlex.quote(str(legacy))} {shlex.quote(str(target))}"


def log_key_path(origin: str) -> Path:
    """The signing key of the log named ``origin`` (``llm-audit/<32 hex>``) in the key directory."""
    return key_dir() / f"log-{origin.rsplit('/', 1)[-1]}.key"


def signing_key_choice(db_path: Path | str, explicit: Path | str | None = None, origin: str | None = None) -> KeyChoice:
    """The signing key file for ``db_path``: explicit, else the environment, else the key directory.

    In the key directory a log's key is found by the log's identity (``origin``: its C2SP origin line), so a
    moved or copied database finds its key; a key named after the database's path (0.2) is used while the log
    has none of its own name. A 0.1 key beside the database is used (with :class:`LegacyKeyLocationWarning`)
    only when the key directory holds none for this database.
    """
    if explicit is not None:
        return KeyChoice(Path(explicit), "--signing-key")
    for env in (ENV_SIGNING_KEY, ENV_KEY_ALIAS):
        if os.environ.get(env):
            return KeyChoice(Path(os.environ[env]), f"${env}")
    by_log = log_key_path(origin) if origin else None
    if by_log is not None and by_log.exists():
        return KeyChoice(by_log, "key directory")
    target = default_key_path(db_path)
    legacy = legacy_key_path(db_path)
    if not target.exists() and legacy.exists():
        warnings.warn(
            f"the signing key {legacy} lies beside its database, where whoever can write the database can use "
            f"or replace it; move it into the key directory: {move_command(legacy, by_log or target)}",
            LegacyKeyLocationWarning,
            stacklevel=1,  # one place, so a process that signs many times is warned once
        )
        return KeyChoice(legacy, "beside the database (0.1)")
    if target.exists() or by_log is None:
        return KeyChoice(target, "key directory")
    return KeyChoice(by_log, "key directory")


def ensure_private_dir(folder: Path) -> None:
    """Create ``folder`` (and its parents) with mode 0700; refuse one that others can enter."""
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise UserError(
            f"cannot create the key directory {folder}: {exc.strerror}: set XDG_CONFIG_HOME, or pass --signing-key"
        ) from None
    mode = stat.S_IMODE(folder.stat().st_mode)
    if mode & 0o077:
        raise UserError(
            f"key directory {folder} is accessible by other users (mode {mode:04o}): run chmod 700 {shlex.quote(str(folder))}"
        )


def shares_folder(db_path: Path | str, other: Path | str) -> bool:
    """Whether ``other`` lies in the database's own folder: within reach of whoever writes the database."""
    return Path(other).resolve().parent == Path(db_path).resolve().parent


def find_key(key_id: str) -> Path | None:
    """A key file in the key directory whose public key has id ``key_id`` (a moved or copied database's key)."""
    folder = key_dir()
    if not folder.is_dir():
        return None
    for candidate in sorted(folder.glob("*.key")):
        try:
            if load_key(candidate).key_id == key_id:
                return candidate
        except UserError:
            continue
    return None


def signing_key_for(
    db_path: Path | str, explicit: Path | str | None, expected_key_id: str | None, origin: str | None = None
) -> tuple[SigningKey, KeyChoice]:
    """The signing key of the log ``origin`` stored at ``db_path`` (created in the key directory for a log no key
    signed yet) and its choice.

    The key directory names a log's key after the log (``log-<origin>.key``). A key of an earlier layout (named
    after the database's path, or a moved or copied database's key under its original path's name) is found by
    the key id the log expects and linked under the log's name, so every later use finds it by the log: a copy
    of a log can then be signed (two copies that diverge are a fork, which witnesses catch).
    """
    choice = signing_key_choice(db_path, explicit, origin)
    if choice.in_key_dir and not choice.path.exists():
        found = find_key(expected_key_id) if expected_key_id is not None else None
        if found is not None:
            choice = KeyChoice(found, "key directory")
        else:
            ensure_private_dir(choice.path.parent)
    key = obtain_signing_key(choice.path, expected_key_id)
    if choice.in_key_dir and origin:
        _adopt(choice.path, log_key_path(origin))
    return key, choice


def _adopt(path: Path, by_log: Path) -> None:
    """Link a log's key under the log's own name (a hard link: the old name keeps working for running processes)."""
    if path == by_log or by_log.exists():
        return
    try:
        os.link(path, by_log)
    except OSError:
        pass  # another process linked it first, or the file system has no hard links: found by key id next time
