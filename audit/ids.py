"""Record identifiers: UUIDv7 (RFC 9562), so ids sort by creation time.

Written here rather than taken from a package because Python 3.11's ``uuid`` has no
``uuid7`` and the layout is twelve lines. The random bits come from ``os.urandom``,
never from torch's RNG, so minting an id cannot disturb a seeded generation.
"""

from __future__ import annotations

import os
import re
import time
import uuid

from .clock import utc_iso
from .errors import UserError


def uuid7(unix_ms: int | None = None) -> str:
    """Return a new UUIDv7 string: 48-bit Unix milliseconds, version 7, variant 10, random rest."""
    ms = int(time.time() * 1000) if unix_ms is None else unix_ms
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


# The one place ids are described: a full UUIDv7 as :func:`uuid7` writes it, and what may name one
# (its first 8 to 36 characters: hex digits and dashes, starting with a digit), which the commands,
# the store's id lookups and the review workspace accept. A UUID is the same UUID in either case
# (RFC 9562 reads hex digits case-insensitively), so an id is matched after :func:`normalise_id`.
UUID7 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\Z")
ID_PREFIX = re.compile(r"[0-9a-f][0-9a-f-]{7,35}\Z", re.IGNORECASE)
AMBIGUOUS_SHOWN = 10  # candidates an "ambiguous prefix" message names


class AmbiguousId(UserError):
    """An id prefix that starts several ids: the message names them (a 400 in the workspace, not "not found")."""


def normalise_id(value: str) -> str:
    """The id (or prefix) as ids are stored: lower-case, surrounding blanks dropped (pasted ids carry them)."""
    return value.strip().lower()


def is_uuid7(value: object) -> bool:
    """Whether ``value`` is a UUIDv7 string as :func:`uuid7` writes it (lower-case, hyphenated)."""
    return isinstance(value, str) and UUID7.match(value) is not None


def assign_identity(item: object) -> None:
    """Give an evidence item (explanation, attention pass, replay) its UUIDv7 id and creation time, unless set.

    Done before sealing, whose associated data names the item, and kept by a merged copy.
    """
    if not getattr(item, "id", None):
        item.id = uuid7()  # type: ignore[attr-defined]
    if not getattr(item, "created_at", None):
        item.created_at = utc_iso()  # type: ignore[attr-defined]
