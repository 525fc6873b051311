"""The pack's file names and the byte strings its signatures and hashes are over."""

from __future__ import annotations

import base64
import json
from typing import Any

FORMAT = "llm-audit-pack/v1"
MANIFEST, SIGNATURE = "manifest.json", "manifest.sig"
CHECKPOINT, NOTE, INDEX, SINCE = "log/checkpoint.json", "log/checkpoint.note", "log/index.jsonl", "log/since.json"
OPENED = "records/opened.jsonl"
EVENTS, EXCLUDED, BLOBS, COMPLETENESS = (
    "records/events.jsonl",
    "records/excluded.jsonl",
    "records/blobs.jsonl",
    "records/completeness.json",
)
MANIFEST_CONTEXT = b"llm-audit pack manifest v1\n"
DOMAIN = b"llm-audit/event/v1"
DOMAIN_SIGNED = b"llm-audit/event/v2"
ORIGIN_PREFIX = "llm-audit/"
LINKED_BY_SUBJECT = ("generation", "erasure", "hold", "release")  # kinds whose header subject is the record id
MAX_FILES, MAX_TOTAL, MAX_RATIO = 200_000, 8 * 2**30, 200  # zip limits, checked before anything is extracted


class CannotCheck(Exception):
    """Exit 2: the pack cannot be checked at all (the message names why and what to do)."""


def manifest_message(manifest: bytes) -> bytes:
    return MANIFEST_CONTEXT + manifest


def signature_file(sig: dict[str, str]) -> bytes:
    """The exact bytes of ``manifest.sig``: so that every byte of it is checked, not only the parts parsed."""
    fields = {k: sig[k] for k in ("key_id", "public_key", "signature")}
    return (json.dumps(fields, sort_keys=True, separators=(",", ":")) + "\n").encode("ascii")


def checkpoint_message(size: int, root_hex: str, signed_at: str) -> bytes:
    return f"llm-audit checkpoint v1\n{size}\n{root_hex}\n{signed_at}\n".encode("ascii")


def note_body(origin: str, size: int, root: bytes) -> str:
    return f"{origin}\n{size}\n{base64.b64encode(root).decode('ascii')}\n"


def event_line(event_jcs: str, payload_jcs: str) -> str:
    """The one layout of exported event lines, from the RFC 8785 texts of the event and its payload."""
    return '{"event":' + event_jcs + ',"payload":' + payload_jcs + "}"


def split_line(line: str) -> tuple[dict[str, Any], dict[str, Any], bytes]:
    """(event, payload, payload bytes as hashed) of an event line; ValueError if it is not one."""
    whole = json.loads(line)
    at = line.find(',"payload":')
    if not line.startswith('{"event":') or at < 0 or not line.endswith("}"):
        raise ValueError("not an event line")
    head, tail = line[len('{"event":') : at], line[at + len(',"payload":') : -1]
    if json.loads(head) != whole["event"] or json.loads(tail) != whole["payload"]:
        raise ValueError("the event line is not laid out as exported")
    return whole["event"], whole["payload"], tail.encode("utf-8")
