"""Stored size and time of an attention analysis on the default model, at ~100 and ~512 tokens.

References measured in the same run: the size of the full per-head maps in float32 (what
storing everything raw would cost) and the time of one plain teacher-forced forward pass
(``audit.scoring.teacher_forced``, SDPA), so the ratios hold on a loaded or idle machine.

    python benchmarks/attention_size.py [--db /tmp/attention-bench.db] [--lengths 100,512]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from audit import Auditor
from audit.scoring import teacher_forced

TEXT = (
    "The applicant reports an annual income of $42,000 from part-time retail work held for eight months, "
    "monthly debt payments of $1,900, a credit score of 580 and requests $25,000 for debt consolidation. "
    "Two accounts were sixty days past due last year; one collection was settled in March. "
)
OUTPUT_TOKENS = 8


def prompt_of(tokenizer, tokens: int) -> str:
    ids = tokenizer(TEXT * (tokens // 40 + 2), add_special_tokens=False)["input_ids"][:tokens]
    return tokenizer.decode(ids)


def forward_seconds(model, record, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        teacher_forced(model, record.input_ids, record.output_ids)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--lengths", default="100,512")
    args = parser.parse_args()
    db = args.db or Path(tempfile.mkdtemp()) / "attention-bench.db"
    auditor = Auditor(db=db)
    loaded = auditor.loaded
    rows = []
    for total in (int(x) for x in args.lengths.split(",")):
        record = auditor.generate(
            prompt=prompt_of(loaded.tokenizer, total - OUTPUT_TOKENS), max_new_tokens=OUTPUT_TOKENS
        )
        seq = record.input_tokens + record.output_tokens
        reference_s = forward_seconds(loaded.model, record)
        started = time.perf_counter()
        light = auditor.attention(record.id)
        light_wall = time.perf_counter() - started
        started = time.perf_counter()
        heavy = auditor.attention(record.id, heads=True)
        heavy_wall = time.perf_counter() - started
        raw_per_head = light.layers * light.heads * seq * seq * 4
        rows.append((seq, light, heavy, raw_per_head, reference_s, light_wall, heavy_wall))

    print(
        f"model {loaded.identity.name}, {rows[0][1].layers} layers x {rows[0][1].heads} heads, device {loaded.device}"
    )
    print()
    print("| tokens | per-head float32 (reference) | stored default | ratio | stored --heads | ratio |")
    print("|---:|---:|---:|---:|---:|---:|")
    for seq, light, heavy, raw, *_ in rows:
        print(
            f"| {seq} | {raw / 1e6:.2f} MB | {light.stored_bytes / 1e6:.2f} MB | {light.stored_bytes / raw:.3f} "
            f"| {heavy.stored_bytes / 1e6:.2f} MB | {heavy.stored_bytes / raw:.3f} |"
        )
    print()
    print(
        "| tokens | teacher-forced forward (reference) | attention compute | ratio | attention incl. store | --heads incl. store | log-prob max diff |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for seq, light, _heavy, _raw, ref, light_wall, heavy_wall in rows:
        print(
            f"| {seq} | {ref:.2f} s | {light.seconds:.2f} s | {light.seconds / ref:.1f}x | {light_wall:.2f} s "
            f"| {heavy_wall:.2f} s | {light.logprob_max_diff:.1e} |"
        )


if __name__ == "__main__":
    main()
