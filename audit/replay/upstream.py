"""Replay a proxied record by sending it to an OpenAI-compatible server again, and compare.

The request is rebuilt from the record: its messages (or prompt text), the parameters the
proxy sent (``tags.proxy.sent``, the recorded seed among them) and the same endpoint. The
answer is read like the proxy reads one (:mod:`audit.traffic.answer`) and compared token by token
with the same verdicts as a local replay: tokens compared by id where both sides know it, by
text otherwise. The model check compares what an upstream tells about itself: its model name
and ``system_fingerprint``. Whether the server reproduces a generation depends on it (vLLM:
fixed seed, batch-invariant mode, same hardware and version; see docs/serving.md).
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any

from ..clock import utc_iso
from ..errors import UserError
from ..ids import uuid7
from ..record import GenerationRecord, TopAlternative
from ..tolerances import REPLAY_TOLERANCE, check_tolerance
from ..traffic.answer import Answer, StandIns, served_model
from ..traffic.proxied import proxy_facts
from .compare import compare_outputs
from .result import ReplayResult

ENV_KEY = "LLM_AUDIT_UPSTREAM_KEY"
PATHS = {"/v1/chat/completions": "/chat/completions", "/v1/completions": "/completions"}


def upstream_request(record: GenerationRecord) -> tuple[str, dict[str, Any]]:
    """The endpoint and body that re-send ``record`` (its clear content: open a sealed record first)."""
    facts = proxy_facts(record)
    if facts is None:
        raise UserError(
            f"record {record.id} was not recorded through `llm-audit proxy`: replay it locally (without --upstream)"
        )
    endpoint = record.tags.get("serve", {}).get("endpoint", "/v1/chat/completions")
    body = dict(facts.get("sent") or {})
    if endpoint == "/v1/chat/completions":
        if not record.messages:
            raise UserError(f"record {record.id} has no messages to re-send")
        body["messages"] = record.messages
    else:
        body["prompt"] = record.prompt
    body["stream"] = False
    body.pop("stream_options", None)
    return endpoint, body


def _keys(record: GenerationRecord, strings: list[str]) -> tuple[list[Any], list[list[Any]]]:
    """Comparable keys of the recorded tokens and alternatives: ("id", n), or ("text", s) for stand-ins."""

    def key(token_id: int, token: str | None = None) -> Any:
        if token_id >= 0:
            return ("id", token_id)
        index = -token_id - 2
        return ("text", strings[index] if 0 <= index < len(strings) else token or "")

    return [key(i) for i in record.output_ids], [
        [key(a.token_id, a.token) for a in step] for step in record.top_logprobs
    ]


def _served_now(httpx: Any, upstream: str, headers: dict[str, str], body: dict[str, Any], answer: Answer) -> str | None:
    """The model the upstream serves now, read as the proxy read it when recording: from its ``/v1/models``
    (:func:`audit.upstream.served_model`), not from the answer, which may echo the request (llama.cpp)."""
    try:
        listing = httpx.get(upstream.rstrip("/") + "/models", headers=headers, timeout=30.0)
        listing.raise_for_status()
        listed = [str(m["id"]) for m in listing.json().get("data", []) if isinstance(m, dict) and m.get("id")]
    except (httpx.HTTPError, ValueError, AttributeError):
        return answer.model
    return served_model(listed, body.get("model"))


def replay_upstream(
    record: GenerationRecord,
    upstream: str,
    *,
    allow_model_mismatch: bool = False,
    tolerance: float = REPLAY_TOLERANCE,
    timeout: float = 600.0,
) -> ReplayResult:
    """Re-send ``record`` to ``upstream`` (a base URL; key from ``$LLM_AUDIT_UPSTREAM_KEY``); not stored."""
    import httpx

    tolerance = check_tolerance(tolerance)
    facts = proxy_facts(record) or {}
    endpoint, body = upstream_request(record)
    chat = endpoint == "/v1/chat/completions"
    key = os.environ.get(ENV_KEY)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    started = time.perf_counter()
    try:
        response = httpx.post(upstream.rstrip("/") + PATHS[endpoint], json=body, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise UserError(f"the upstream {upstream} could not be reached ({exc}): check --upstream") from None
    if response.status_code >= 400:
        raise UserError(f"the upstream {upstream} refused the replay ({response.status_code}: {response.text[:200]})")
    answer = Answer()
    answer.add_chunk(response.json(), chat)
    seconds = time.perf_counter() - started
    model_match = {
        "upstream_model": _entry(facts.get("upstream_model"), _served_now(httpx, upstream, headers, body, answer)),
        "system_fingerprint": _entry(facts.get("system_fingerprint"), answer.system_fingerprint),
    }
    matches = all(entry["match"] for entry in model_match.values())
    if not matches and not allow_model_mismatch:
        changed = ", ".join(
            f"{k} recorded {v['recorded']!r} now {v['current']!r}" for k, v in model_match.items() if not v["match"]
        )
        raise UserError(
            f"the upstream now serves another model or configuration ({changed}): nothing was stored; "
            "pass --allow-model-mismatch to store the replay anyway"
        )
    # Compare on keys both sides share: ids where known, texts otherwise (a stand-in id is a text).
    strings = list((record.tags.get("content") or {}).get("token_strings") or [])
    recorded_keys, recorded_top = _keys(record, strings)
    stand_ins = StandIns()
    replayed_ids = [stand_ins.id(step.token, i) for step, i in zip(answer.steps, answer.ids())]
    replayed_keys = [("id", i) if i >= 0 else ("text", step.token) for i, step in zip(replayed_ids, answer.steps)]
    vocabulary: dict[Any, int] = {}
    texts: dict[int, str] = {}

    def index(key: Any, text: str) -> int:
        if key not in vocabulary:
            vocabulary[key] = len(vocabulary)
            texts[vocabulary[key]] = text
        return vocabulary[key]

    tops = record.top_logprobs
    projected = dataclasses.replace(
        record,
        output_ids=[index(k, k[1] if k[0] == "text" else "") for k in recorded_keys],
        top_logprobs=[
            [TopAlternative(index(k, a.token), a.token, a.logprob) for k, a in zip(keys, step)]
            for keys, step in zip(recorded_top, tops)
        ],
    )
    ids = [index(k, step.token) for k, step in zip(replayed_keys, answer.steps)]
    top = [
        [(index(("id", i) if i is not None else ("text", t), t), lp) for t, i, lp in step.top] for step in answer.steps
    ]
    verdict = compare_outputs(
        projected, ids, [s.logprob for s in answer.steps], top, lambda i: texts.get(int(i), ""), tolerance
    )
    if verdict.first_divergence is not None:  # show real ids where known, stand-ins otherwise
        step = verdict.first_divergence.step
        verdict.first_divergence.recorded_token_id = record.output_ids[step] if step < len(record.output_ids) else -1
        verdict.first_divergence.replayed_token_id = replayed_ids[step] if step < len(replayed_ids) else -1
    return ReplayResult(
        record_id=record.id,
        verdict=verdict.verdict,
        model_match=model_match,
        environment_diff={},
        first_divergence=verdict.first_divergence,
        max_logprob_diff=verdict.max_logprob_diff,
        replayed_output_ids=[i for i in replayed_ids],
        seconds=round(seconds, 6),
        allow_model_mismatch=allow_model_mismatch,
        id=uuid7(),
        created_at=utc_iso(),
        tolerance=tolerance,
        model_matches=matches,
        replayed_token_logprobs=[s.logprob for s in answer.steps],
        extra={
            "upstream": upstream,
            "compared_by": "token ids"
            if all(k[0] == "id" for k in recorded_keys + replayed_keys)
            else "token ids and texts",
            "recorded_duration_s": record.duration_s,
            "replayed_output_text": answer.text,
            "replayed_finish_reason": answer.finish_reason,
            "replayed_token_strings": stand_ins.strings,
            "upstream_receipt": answer.receipt,
        },
    )


def _entry(recorded: Any, current: Any) -> dict[str, Any]:
    return {"recorded": recorded, "current": current, "match": recorded == current, "decides": True}
