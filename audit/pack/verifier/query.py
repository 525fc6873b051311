"""Which records a pack's query selects, and which events are about a record: the predicate the exporter
applies too (:mod:`audit.pack.collect`), so both sides select the same records."""

from __future__ import annotations

import json
import re
from typing import Any

from .formats import LINKED_BY_SUBJECT


def match(query: dict[str, Any], record: dict[str, Any], reviewed: set[str]) -> bool:
    """Whether a generation payload matches the selection (the one predicate: the exporter uses it too)."""
    decision = record.get("decision") if isinstance(record.get("decision"), dict) else {}
    tests = (
        ("use_case", lambda v: record.get("use_case") == v),
        ("since", lambda v: str(record.get("started_at", "")) >= v),
        ("until", lambda v: str(record.get("started_at", "")) < v),
        ("decision", lambda v: decision.get("chosen") == v),
        ("reviewed", lambda v: (record.get("id") in reviewed) == v),
        ("ids", lambda v: record.get("id") in set(v)),
    )
    return all(test(query[name]) for name, test in tests if query.get(name) is not None)


_RECORD_ID = re.compile(r'"record_id":"((?:[^"\\]|\\.)*)"')
_RECORD_IDS = re.compile(r'"record_ids":(\[(?:"(?:[^"\\]|\\.)*"(?:,"(?:[^"\\]|\\.)*")*)?\])')


def record_links(kind: str, subject_id: str, payload_text: str) -> set[str]:
    """The record ids an event concerns: its subject for record-subject kinds, and every ``record_id`` (or
    ``record_ids``) its payload names at any depth (a fairness run names the records whose decision flipped).

    Read from the RFC 8785 text, where a key is always ``"name":`` with unescaped quotes (a quote inside a
    string is escaped), so a match is a real member at some depth, never text inside a string.
    """
    links = {subject_id} if kind in LINKED_BY_SUBJECT else set()
    links.update(json.loads(f'"{m}"') for m in _RECORD_ID.findall(payload_text))
    for found in _RECORD_IDS.findall(payload_text):
        links.update(json.loads(found))
    return links


def data_subject(record: dict[str, Any]) -> str | None:
    """The data-subject reference of a sealed generation payload (holds may name the subject, not the record)."""
    tags = record.get("tags") if isinstance(record.get("tags"), dict) else {}
    privacy = tags.get("privacy") if isinstance(tags.get("privacy"), dict) else {}
    return privacy.get("subject") if isinstance(privacy.get("subject"), str) else None
