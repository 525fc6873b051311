"""Replay cost and thread-count (non-)determinism on the default model (SmolLM2-135M).

For each example case (greedy) plus one sampled case, it records at the machine's thread
count, then replays (a) at the same thread count, the reference, and (b) with
``torch.set_num_threads(1)``. It prints replay time against the original generation
time, the verdicts, and the largest per-token |Δ log-prob| between thread counts, both
along the generation path and by teacher forcing (one uncached forward pass).

Run: python benchmarks/replay_threads.py [--tokens 16] [--cases 5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audit import Auditor  # noqa: E402
from audit.examples import load_examples  # noqa: E402
from audit.model import load_model  # noqa: E402
from audit.scoring import teacher_forced  # noqa: E402


def _with_threads(threads: int, fn):
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return fn()
    finally:
        torch.set_num_threads(before)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=16)
    parser.add_argument("--cases", type=int, default=5)
    args = parser.parse_args()
    examples = Path(__file__).resolve().parents[1] / "examples"
    cases = [c.generate_kwargs() for c in load_examples(examples)[: args.cases]]
    for case in cases:
        case["max_new_tokens"] = args.tokens
    sampled = dict(cases[0], do_sample=True, temperature=0.8, top_p=0.9, seed=5, tags={"example": "sampled"})
    cases.append(sampled)

    base_threads = torch.get_num_threads()
    loaded = load_model(None, device="cpu")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        auditor = Auditor(db=Path(tmp) / "bench.db", model=loaded)
        for case in cases:
            record = auditor.generate(**case)
            same = auditor.replay(record.id)
            one = _with_threads(1, lambda record=record: auditor.replay(record.id))
            tf_base = teacher_forced(loaded.model, record.input_ids, record.output_ids).token_logprobs
            tf_one = _with_threads(
                1,
                lambda record=record: teacher_forced(loaded.model, record.input_ids, record.output_ids).token_logprobs,
            )
            margins = [alts[0].logprob - alts[1].logprob for alts in record.top_logprobs]
            rows.append(
                {
                    "case": case["tags"]["example"][:28],
                    "in": record.input_tokens,
                    "out": record.output_tokens,
                    "record_s": record.duration_s,
                    "replay_s": same.seconds,
                    "verdict": same.verdict,
                    "verdict_1t": one.verdict,
                    "gen_diff_1t": one.max_logprob_diff or 0.0,
                    "tf_diff_1t": max(abs(a - b) for a, b in zip(tf_base, tf_one)),
                    "min_margin": min(margins),
                }
            )
    print(f"torch {torch.__version__}, {base_threads} threads vs 1, {args.tokens} new tokens, CPU float32\n")
    header = f"{'case':28} {'in':>4} {'out':>4} {'record s':>9} {'replay s':>9} {'ratio':>6}  {'verdict':9}  {'1 thread':9} {'max|Δlp| gen':>12} {'max|Δlp| tf':>11} {'min margin':>10}"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['case']:28} {r['in']:>4} {r['out']:>4} {r['record_s']:>9.2f} {r['replay_s']:>9.2f} {r['replay_s'] / r['record_s']:>6.2f}  "
            f"{r['verdict']:9}  {r['verdict_1t']:9} {r['gen_diff_1t']:>12.2e} {r['tf_diff_1t']:>11.2e} {r['min_margin']:>10.3f}"
        )
    per_token = sum(r["replay_s"] for r in rows) / sum(r["out"] for r in rows)
    print(
        f"\nreplay: {sum(r['replay_s'] for r in rows) / len(rows):.2f} s per record, {per_token * 1000:.0f} ms per output token"
    )


if __name__ == "__main__":
    main()
