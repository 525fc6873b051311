"""Read what an OpenAI-compatible server answered: text, tokens, ids where it gives them, log-probabilities.

Servers differ in how much they return. Token ids come, in this order of preference, from
vLLM's ``return_token_ids`` (``token_ids``, ``prompt_token_ids``), from an ``id`` in each logprob
entry (llama.cpp's server, llm-audit's), or from tokens spelled ``token_id:N`` (vLLM's
``return_tokens_as_token_ids``). A token with none of these keeps its text only; it gets a
negative stand-in id (-2, -3, ...) that indexes ``token_strings``, so comparisons still work
and nothing pretends to know an id it does not. Used by the proxy (whole and streamed
answers) and by ``replay --upstream``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

_TOKEN_ID = re.compile(r"^token_id:(\d+)$")
FIRST_STAND_IN = -2  # -1 is a sealed id (audit.privacy.guard.SEALED_ID)


@dataclass
class Step:
    """One generated token: its text, id (None: not returned), log-probability, alternatives, and its bytes
    when the server gave them (OpenAI's ``bytes``: a token that is part of a multi-byte character reads as
    ``\ufffd`` in text, so only its bytes tell it from another such token)."""

    token: str
    token_id: int | None
    logprob: float
    top: list[tuple[str, int | None, float]]
    raw: bytes | None = None
    top_raw: list[bytes | None] = field(default_factory=list)


@dataclass
class Answer:
    """One upstream completion, whole or assembled from its stream."""

    completion_id: str | None = None
    model: str | None = None
    system_fingerprint: str | None = None
    created: int | None = None
    text: str = ""
    finish_reason: str | None = None
    steps: list[Step] = field(default_factory=list)
    token_ids: list[int] | None = None  # vLLM's return_token_ids
    prompt_token_ids: list[int] | None = None
    usage: dict[str, Any] | None = None
    receipt: dict[str, Any] | None = None  # the upstream's own llm_audit receipt, when it is llm-audit

    def add_chunk(self, chunk: dict[str, Any], chat: bool) -> None:
        """Fold one streamed chunk (or a whole response) into the answer."""
        self.completion_id = chunk.get("id", self.completion_id)
        self.model = chunk.get("model") or self.model
        self.system_fingerprint = chunk.get("system_fingerprint") or self.system_fingerprint
        self.created = chunk.get("created", self.created)
        self.usage = chunk.get("usage") or self.usage
        self.receipt = chunk.get("llm_audit") or self.receipt
        if chunk.get("prompt_token_ids") is not None:
            self.prompt_token_ids = list(chunk["prompt_token_ids"])
        for choice in chunk.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue
            if chat:
                part = (choice.get("delta") or choice.get("message") or {}).get("content")
            else:
                part = choice.get("text")
            self.text += part or ""
            self.finish_reason = choice.get("finish_reason") or self.finish_reason
            if choice.get("token_ids") is not None:
                self.token_ids = (self.token_ids or []) + list(choice["token_ids"])
            logprobs = choice.get("logprobs")
            if logprobs:
                self.steps += _chat_steps(logprobs) if chat else _completion_steps(logprobs)

    def ids(self) -> list[int | None]:
        """Each step's id, the best source first (see the module's docstring)."""
        if self.token_ids is not None and len(self.token_ids) == len(self.steps):
            return list(self.token_ids)
        return [step.token_id for step in self.steps]


def _id_of(entry: dict[str, Any]) -> int | None:
    if isinstance(entry.get("id"), int):
        return int(entry["id"])
    match = _TOKEN_ID.match(str(entry.get("token", "")))
    return int(match.group(1)) if match else None


def _number(value: Any) -> float:
    return float(value) if value is not None else -math.inf


def _bytes_of(entry: dict[str, Any]) -> bytes | None:
    """The entry's ``bytes`` (a list of integers 0-255), or None when it has none or they are not bytes."""
    value = entry.get("bytes")
    if type(value) is not list:
        return None
    try:  # bytes() refuses a float, a string or an integer outside 0-255 itself, in C
        return bytes(value)
    except (TypeError, ValueError):
        return None


def _chat_steps(logprobs: dict[str, Any]) -> list[Step]:
    steps = []
    for entry in logprobs.get("content") or []:
        alternatives = [a for a in entry.get("top_logprobs") or [] if isinstance(a, dict)]
        steps.append(
            Step(
                str(entry.get("token", "")),
                _id_of(entry),
                _number(entry.get("logprob")),
                [(str(a.get("token", "")), _id_of(a), _number(a.get("logprob"))) for a in alternatives],
                _bytes_of(entry),
                [_bytes_of(a) for a in alternatives],
            )
        )
    return steps


def _completion_steps(logprobs: dict[str, Any]) -> list[Step]:
    tokens = logprobs.get("tokens") or []
    values = logprobs.get("token_logprobs") or []
    tops = logprobs.get("top_logprobs") or [None] * len(tokens)
    steps = []
    for token, value, top in zip(tokens, values, tops):
        ranked = sorted((top or {}).items(), key=lambda kv: -_number(kv[1]))
        steps.append(
            Step(
                str(token),
                _id_of({"token": token}),
                _number(value),
                [(t, _id_of({"token": t}), _number(lp)) for t, lp in ranked],
            )
        )
    return steps


class StandIns:
    """Negative ids for tokens known by their text (and bytes, when given) only: the same token, the same
    stand-in. Tokens whose text is the same but whose bytes differ (pieces of multi-byte characters, which
    read as ``\ufffd``) get distinct stand-ins, and their bytes are kept (:attr:`raw`, hex by stand-in)."""

    def __init__(self) -> None:
        self.strings: list[str] = []
        self.raw: dict[
            str, str
        ] = {}  # stand-in index (as text) -> the token's bytes in hex, where not its text's UTF-8
        self._index: dict[tuple[str, bytes | None], int] = {}

    def id(self, token: str, token_id: int | None, raw: bytes | None = None) -> int:
        if token_id is not None:
            return token_id
        if raw is not None and raw == token.encode("utf-8", "surrogatepass"):
            raw = None  # the text says it all
        key = (token, raw)
        if key not in self._index:
            self._index[key] = len(self.strings)
            if raw is not None:
                self.raw[str(len(self.strings))] = raw.hex()
            self.strings.append(token)
        return FIRST_STAND_IN - self._index[key]


def served_model(listed: list[str], requested: str | None) -> str | None:
    """The model an upstream serves for a request, from its ``/v1/models`` list, never from its answer.

    The requested name when the upstream lists it (vLLM, several models); the one model listed when there
    is only one (llama.cpp serves it whatever name is sent, and echoes the name back); else None: unknown.
    """
    if requested is not None and requested in listed:
        return requested
    return listed[0] if len(listed) == 1 else None


def strip_for_client(chunk: dict[str, Any], top: int | None, token_ids: bool, chat: bool) -> dict[str, Any]:
    """A response or chunk as the client asked for it: log-probabilities only if it asked (trimmed to
    its ``top``), token ids only if it asked, and the upstream's own receipt removed (ours replaces it)."""
    out = {k: v for k, v in chunk.items() if k != "llm_audit" and (token_ids or k != "prompt_token_ids")}
    choices = []
    for choice in chunk.get("choices") or []:
        choice = {k: v for k, v in choice.items() if token_ids or k != "token_ids"}
        logprobs = choice.get("logprobs")
        if logprobs is not None:
            choice["logprobs"] = None if top is None else _trim(logprobs, top, chat)
        choices.append(choice)
    if "choices" in chunk:
        out["choices"] = choices
    return out


def _trim(logprobs: dict[str, Any], top: int, chat: bool) -> dict[str, Any]:
    if chat:
        content = [{**e, "top_logprobs": (e.get("top_logprobs") or [])[:top]} for e in logprobs.get("content") or []]
        return {**logprobs, "content": content}
    tops = [
        dict(sorted((t or {}).items(), key=lambda kv: -_number(kv[1]))[:top])
        for t in logprobs.get("top_logprobs") or []
    ]
    return {**logprobs, "top_logprobs": tops}
