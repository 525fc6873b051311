"""Plain-text rendering of records for the terminal (JSON output lives in each command)."""

from __future__ import annotations

import math

from ..decision.outcome import describe_decision
from ..record import GenerationRecord


def record_summary(record: GenerationRecord) -> str:
    mean_lp = sum(record.token_logprobs) / len(record.token_logprobs) if record.token_logprobs else float("nan")
    weights = ", ".join(f"{name} {digest[:16]}…" for name, digest in record.model.weights_sha256.items())
    lines = [
        f"record     {record.id}  (seq {record.seq})",
        f"use case   {record.use_case}   operator {record.operator}",
        f"started    {record.started_at}   duration {record.duration_s:.3f} s",
        f"model      {record.model.name} ({record.model.architecture}, {record.model.parameter_count:,} parameters)",
        f"weights    {weights}",
        f"input      {record.prompt_kind}, {record.input_tokens} tokens   seed {record.seed}",
        f"output     {record.output_tokens} tokens, finish {record.finish_reason}, mean log-prob {mean_lp:.3f}"
        f" (perplexity {math.exp(-mean_lp):.2f})",
    ]
    if record.decision is not None:
        lines.append(f"decision   {describe_decision(record.decision)}")
    lines += ["", record.output_text.strip()]
    return "\n".join(lines)


def record_detail(record: GenerationRecord) -> str:
    parts = [record_summary(record), "", "--- prompt (exactly as tokenised) ---", record.prompt]
    if record.variables:
        parts += ["", "--- template variables ---"] + [f"{k}: {v}" for k, v in record.variables.items()]
    parts += ["", "--- per-token log-probabilities ---"]
    for step, (lp, alts) in enumerate(zip(record.token_logprobs, record.top_logprobs)):
        chosen = record.output_ids[step]
        others = "  ".join(f"{a.token!r} {a.logprob:.2f}" for a in alts if a.token_id != chosen)[:90]
        parts.append(f"{step:>4}  {lp:8.4f}  id {chosen:<6}  alternatives: {others}")
    return "\n".join(parts)


def truncate(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
