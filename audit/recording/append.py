"""Storing a generation record: the privacy policy applied, then appended with its event, or spooled.

A database that cannot take the record (locked beyond the wait, disk full) does not lose it:
the record is kept in the pending spool (:mod:`audit.spool`) for ``llm-audit append-pending``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .. import spool
from ..record import GenerationRecord
from ..store import check_writable

if TYPE_CHECKING:
    from ..privacy.guard import PrivacyGuard


def check_storable(db_path: Path, guard: PrivacyGuard) -> None:
    """Refuse before any model time is spent: the database must be writable and, under a policy, the key store usable."""
    check_writable(db_path)
    if guard.policy is not None:
        guard.check_key_store()


def store_record(db_path: Path, record: GenerationRecord, guard: PrivacyGuard | None = None) -> GenerationRecord:
    """Append ``record`` (redacted and sealed first when ``guard`` has a policy); returns it with ``seq`` set.

    The caller keeps the clear record: it is what was generated. What is stored, for a sealed
    record, is the protected copy; its ``seq`` and privacy tags are copied back.
    """
    append_record(db_path, record, guard)
    return record


def append_record(db_path: Path, record: GenerationRecord, guard: PrivacyGuard | None = None) -> str:
    """:func:`store_record`, returning the SHA-256 of the logged payload (what a receipt cites)."""
    stored = guard.protect(record) if guard is not None and guard.policy is not None else record
    # A database that cannot take it: the record is kept in the spool, never lost.
    write = lambda store: store.events.at(store.records.append(stored)).payload_sha256  # noqa: E731
    payload_sha256 = spool.store_or_keep(db_path, "generation", stored, write)
    record.seq = stored.seq
    record.tags = stored.tags
    return payload_sha256
