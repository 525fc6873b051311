"""A recorded generation in OpenAI's response shapes (chat and text completions, whole or streamed).

Everything the client receives is read from the record: the text, the token strings, the
log-probabilities (the raw model distribution, as llm-audit records it and as vLLM returns by
default), the usage. Each logprob entry also carries the token ``id`` (as llama.cpp's server
does), and ``return_token_ids`` adds vLLM's ``prompt_token_ids`` and ``token_ids``, so a proxy
in front of this server can record exact ids. ``llm_audit`` is the receipt: the record id and
the SHA-256 of its logged payload.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from ..record import GenerationRecord, ModelIdentity

FINISH = {"eos": "stop", "stop": "stop", "length": "length"}


def system_fingerprint(identity: ModelIdentity, dtype: str, device: str) -> str:
    """``fp_`` and 12 hex digits of the hashes that decide the outputs: weights, config, tokenizer,
    chat template, dtype and device type. Two servers with the same fingerprint run the same model."""
    deciding = {
        "weights": identity.weights_sha256,
        "config": identity.config_sha256,
        "tokenizer": identity.tokenizer_sha256,
        "chat_template": identity.chat_template_sha256,
        "dtype": dtype,
        "device": device.split(":")[0],
    }
    return "fp_" + hashlib.sha256(json.dumps(deciding, sort_keys=True).encode()).hexdigest()[:12]


def visible_text(text: str, finish_reason: str, stops: list[str]) -> str:
    """The text as OpenAI returns it: cut before the stop sequence that ended it (the record keeps it all)."""
    if finish_reason != "stop" or not stops:
        return text
    found = [text.find(stop) for stop in stops if stop in text]
    return text[: min(found)] if found else text


@dataclass
class Served:
    """One recorded completion as the client receives it; built in the model thread (the tokenizer's)."""

    record: GenerationRecord
    text: str  # visible text
    tokens: list[str]  # each output token's own text (special tokens included)
    offsets: list[int]  # each output token's start in the decoded output
    completion_id: str
    created: int
    model: str
    fingerprint: str
    record_hash: str | None = None  # set once the record is committed
    rest: str = ""  # a stream's text not yet sent when generation ended (held back near a stop string)

    @property
    def finish_reason(self) -> str:
        return FINISH.get(self.record.finish_reason, self.record.finish_reason)

    def receipt(self) -> dict[str, Any]:
        """What the client keeps to find its record again, and the scored decision when it asked for one."""
        receipt = {
            "record_id": self.record.id,
            "record_hash": self.record_hash,
            "seed": self.record.seed,
            "operator": self.record.operator,
        }
        decision = self.record.decision
        if decision is not None:
            receipt["decision"] = {
                "chosen": decision.chosen,
                "probabilities": decision.probabilities,
                "margin": decision.margin,
                "adverse": decision.adverse,
                "stated": decision.stated,
                "agrees": decision.agrees,
                "mode": decision.mode,
            }
        return receipt

    def usage(self) -> dict[str, int]:
        prompt, completion = len(self.record.input_ids), len(self.record.output_ids)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def _head(self, obj: str) -> dict[str, Any]:
        return {
            "id": self.completion_id,
            "object": obj,
            "created": self.created,
            "model": self.model,
            "system_fingerprint": self.fingerprint,
        }

    # -- log-probabilities --------------------------------------------------------------------
    def chat_logprobs(self, top: int) -> dict[str, Any]:
        record = self.record
        content = []
        for step, (token_id, token, logprob) in enumerate(zip(record.output_ids, self.tokens, record.token_logprobs)):
            alternatives = record.top_logprobs[step][:top] if step < len(record.top_logprobs) else []
            content.append(
                {
                    "id": token_id,
                    "token": token,
                    "logprob": logprob,
                    "bytes": list(token.encode("utf-8")),
                    "top_logprobs": [
                        {
                            "id": a.token_id,
                            "token": a.token,
                            "logprob": a.logprob,
                            "bytes": list(a.token.encode("utf-8")),
                        }
                        for a in alternatives
                    ],
                }
            )
        return {"content": content, "refusal": None}

    def completion_logprobs(self, top: int) -> dict[str, Any]:
        record = self.record
        return {
            "tokens": list(self.tokens),
            "token_logprobs": list(record.token_logprobs),
            "top_logprobs": [{a.token: a.logprob for a in step[:top]} for step in record.top_logprobs],
            "text_offset": list(self.offsets),
        }

    # -- whole responses ------------------------------------------------------------------------
    def chat(self, top: int | None, token_ids: bool) -> dict[str, Any]:
        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": self.text, "refusal": None},
            "logprobs": self.chat_logprobs(top) if top is not None else None,
            "finish_reason": self.finish_reason,
        }
        return self._whole("chat.completion", choice, token_ids)

    def completion(self, top: int | None, token_ids: bool) -> dict[str, Any]:
        choice: dict[str, Any] = {
            "index": 0,
            "text": self.text,
            "logprobs": self.completion_logprobs(top) if top is not None else None,
            "finish_reason": self.finish_reason,
        }
        return self._whole("text_completion", choice, token_ids)

    def _whole(self, obj: str, choice: dict[str, Any], token_ids: bool) -> dict[str, Any]:
        body = self._head(obj)
        if token_ids:
            choice["token_ids"] = list(self.record.output_ids)
            body["prompt_token_ids"] = list(self.record.input_ids)
        body.update(choices=[choice], usage=self.usage(), llm_audit=self.receipt())
        return body

    # -- streamed ---------------------------------------------------------------------------------
    def final_chunks(self, chat: bool, rest: str, top: int | None, token_ids: bool, usage: bool) -> list[dict]:
        """The chunks sent once the record is committed: the text not yet sent, the log-probabilities
        (all of them, the recorded values), the finish reason, the receipt; then usage if asked."""
        if chat:
            choice: dict[str, Any] = {
                "index": 0,
                "delta": {"content": rest} if rest else {},
                "logprobs": self.chat_logprobs(top) if top is not None else None,
                "finish_reason": self.finish_reason,
            }
            obj = "chat.completion.chunk"
        else:
            choice = {
                "index": 0,
                "text": rest,
                "logprobs": self.completion_logprobs(top) if top is not None else None,
                "finish_reason": self.finish_reason,
            }
            obj = "text_completion"
        if token_ids:
            choice["token_ids"] = list(self.record.output_ids)
        last = {**self._head(obj), "choices": [choice], "llm_audit": self.receipt()}
        if token_ids:
            last["prompt_token_ids"] = list(self.record.input_ids)
        chunks = [last]
        if usage:
            chunks.append({**self._head(obj), "choices": [], "usage": self.usage()})
        return chunks


def stream_head(chat: bool, completion_id: str, created: int, model: str, fingerprint: str) -> dict[str, Any]:
    """The shape of every streamed chunk before the last (the id is the completion's, known up front)."""
    return {
        "id": completion_id,
        "object": "chat.completion.chunk" if chat else "text_completion",
        "created": created,
        "model": model,
        "system_fingerprint": fingerprint,
    }


def text_chunk(head: dict[str, Any], chat: bool, piece: str, first: bool = False) -> dict[str, Any]:
    if chat:
        delta: dict[str, Any] = {"role": "assistant", "content": piece} if first else {"content": piece}
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}
    else:
        choice = {"index": 0, "text": piece, "logprobs": None, "finish_reason": None}
    return {**head, "choices": [choice]}


def sse(data: dict[str, Any] | str) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"data: {text}\n\n".encode()
