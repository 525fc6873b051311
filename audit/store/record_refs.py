"""Records version 4: what a generation row and its payload hold by reference, each stored once as a blob.

Up to version 3 every column was stored twice, in the row and in its event's payload: about 9 KB
for a proxied 16-token completion, most of it the same in every record a process writes (the
recording host's environment, a proxy's statement of what it can know) or base64 of packed
arrays. From version 4:

* ``environment``: ``{"blob": "<sha256>"}`` of an ``llm-audit-json/1`` blob (its canonical JSON),
  one row of ``blobs`` for every record written by the same process on the same host;
* ``tags.proxy.known`` (a proxied record): the same;
* ``output_ids``, ``token_logprobs`` and ``top_logprobs``: all three ``{"blob": "<sha256>"}`` of the
  record's one ``llm-audit-tokens/1`` blob (:mod:`audit.token_blob`), stored once, compressed, not as
  JSON or base64 in two places.

The reference is inside the row and the payload alike, so the chain covers it; the blob's key is
the SHA-256 of its stored bytes, so the chain covers the blob. ``verify`` rehashes every blob a
payload names (the check every array already has), the evidence pack carries them, and
:func:`resolve` is the one reader, through :meth:`audit.store.records.RecordRepository.get`.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from ..errors import UserError
from ..integrity.canonical_check import encode_json, read_json
from ..record import TopAlternative
from ..token_blob import LAYOUT as TOKENS
from ..token_blob import pack as pack_tokens
from ..token_blob import unpack as unpack_tokens
from .blobs import JSON_LAYOUT, Blob, BlobRepository, laid_out, layout_body

REFS_FROM = 4
TOKEN_COLUMNS = ("output_ids", "token_logprobs", "top_logprobs")


def ref(digest: str) -> dict[str, str]:
    return {"blob": digest}


def is_ref(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("blob"), str)


@lru_cache(maxsize=256)
def _json_blob(text: str) -> Blob:
    """Memoised: a process writes the same environment into every record; its blob is computed once."""
    return laid_out(JSON_LAYOUT, text.encode("utf-8"))


def json_blob(value: Any) -> Blob:
    return _json_blob(encode_json(value, "jcs"))


def by_reference(record: Any, data: dict[str, Any]) -> list[Blob]:
    """Replace, in ``data`` (the record as stored), the values held by reference; the blobs to store with the row.

    ``record.tags`` is never changed: the stored tags are a copy."""
    blobs = [json_blob(data["environment"])]
    data["environment"] = ref(blobs[0].sha256)
    tags = data.get("tags")
    proxy = tags.get("proxy") if isinstance(tags, dict) else None
    if isinstance(proxy, dict) and isinstance(proxy.get("known"), dict):
        known = json_blob(proxy["known"])
        data["tags"] = {**tags, "proxy": {**proxy, "known": ref(known.sha256)}}
        blobs.append(known)
    body = pack_tokens(record.output_ids, record.token_logprobs, record.top_logprobs)
    tokens = laid_out(TOKENS, body, str(len(record.output_ids)))
    blobs.append(tokens)
    for column in TOKEN_COLUMNS:
        data[column] = ref(tokens.sha256)
    return blobs


def _known(data: dict[str, Any]) -> Any:
    tags = data.get("tags")
    proxy = tags.get("proxy") if isinstance(tags, dict) else None
    return proxy.get("known") if isinstance(proxy, dict) else None


def referenced(payload: dict[str, Any]) -> list[str]:
    """The blob keys a generation payload (or row, parsed) names, in a fixed order, each once."""
    found = [payload.get("environment"), _known(payload), *(payload.get(c) for c in TOKEN_COLUMNS)]
    return list(dict.fromkeys(value["blob"] for value in found if is_ref(value)))


_REF_TEXT = re.compile(r'"(environment|output_ids|token_logprobs|top_logprobs)":\{"blob":"([0-9a-f]{64})"\}')


def referenced_in_text(payload_text: str) -> list[str] | None:
    """:func:`referenced` from the canonical payload text without parsing it, where that is exact; else None.

    Exact when each of the four top-level references appears once and no ``known`` reference does: a
    look-alike nested in tags or variables would add a second match, and then the payload is parsed."""
    if '"known":{"blob":' in payload_text:
        return None
    matches = _REF_TEXT.findall(payload_text)
    if sorted(name for name, _ in matches) != ["environment", "output_ids", "token_logprobs", "top_logprobs"]:
        return None
    return list(dict.fromkeys(digest for _, digest in matches))


def pack_body(blobs: dict[str, bytes]) -> Callable[[str, str], bytes]:
    """The body reader over an evidence pack's blobs (key -> stored bytes): each checked against its key first."""

    def body(digest: str, layout: str) -> bytes:
        data = blobs.get(digest)
        if data is None or hashlib.sha256(data).hexdigest() != digest:
            raise UserError(f"blob {digest[:16]}… is missing from the pack or does not match its SHA-256")
        try:
            return layout_body(data, layout)
        except ValueError as exc:
            raise UserError(f"blob {digest[:16]}… {exc}") from None

    return body


class Resolver:
    """Reads the referenced values back, through a checked body reader (the store's, or :func:`pack_body`); a fact is
    read once per resolver."""

    def __init__(self, blobs: BlobRepository | Callable[[str, str], bytes]) -> None:
        self.body = blobs.body if isinstance(blobs, BlobRepository) else blobs
        self.facts: dict[str, str] = {}

    def readable(self, payload: dict[str, Any]) -> dict[str, Any]:
        """A copy of a logged payload with its references replaced by their values, alternatives as JSON objects
        (``token_id``, ``token``, ``logprob``, as versions 1 and 2 wrote them): for copies people read (Parquet)."""
        data = copy.deepcopy(payload)
        self.resolve(data)
        if is_ref(payload.get("top_logprobs")):
            data["top_logprobs"] = [[dataclasses.asdict(alt) for alt in step] for step in data["top_logprobs"]]
        return data

    def fact(self, value: dict[str, str], where: str) -> Any:
        digest = value["blob"]
        if digest not in self.facts:
            self.facts[digest] = self.body(digest, JSON_LAYOUT).decode("utf-8")
        return read_json(self.facts[digest], f"{where} (blob {digest[:16]}…)")

    def resolve(self, data: dict[str, Any]) -> None:
        """Replace, in a row read back (JSON columns parsed), each reference by its value; a reference that cannot
        be read is refused naming the record and the blob (run ``verify``)."""
        record_id = data.get("id")
        if is_ref(data.get("environment")):
            data["environment"] = self.fact(data["environment"], f"generations.environment of record {record_id}")
        known = _known(data)
        if is_ref(known):
            data["tags"]["proxy"]["known"] = self.fact(known, f"generations.tags of record {record_id}")
        refs = [data.get(c) for c in TOKEN_COLUMNS]
        if not any(is_ref(value) for value in refs):
            return
        if not all(value == refs[0] for value in refs) or not is_ref(refs[0]):
            raise UserError(
                f"record {record_id}: its token columns name different blobs; the record is unreadable: run `llm-audit verify`"
            )
        try:
            ids, values, steps = unpack_tokens(self.body(refs[0]["blob"], TOKENS))
        except ValueError as exc:
            raise UserError(f"record {record_id}: its tokens blob {exc}: run `llm-audit verify`") from None
        data["output_ids"] = ids
        data["token_logprobs"] = values
        data["top_logprobs"] = [[TopAlternative(*alt) for alt in step] for step in steps]
