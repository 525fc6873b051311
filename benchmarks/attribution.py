"""Benchmark: our attribution path against Captum's own LLM wrappers, same model, same inputs, one process.

    python benchmarks/attribution.py            # 30- and 85-token prompts, 16 output tokens (minutes)
    python benchmarks/attribution.py --quick    # 30-token prompt, no Captum default path (about a minute)

Rows: feature ablation against Captum ``LLMAttribution`` with its default path
(``forward_in_tokens=True``, KV-cached: slow and, see tests, wrong after the first target token) and
with ``forward_in_tokens=False``; integrated gradients and gradient x input against
``LLMGradientAttribution``. "max abs diff" compares attribution matrices (token_attr, or seq_attr
where Captum gives no per-token result).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audit import Auditor  # noqa: E402
from audit.attribution.explain import explain_record  # noqa: E402
from audit.attribution.inputs import build_features  # noqa: E402
from audit.attribution.reference import captum_attribute  # noqa: E402
from audit.attribution.request import check_request  # noqa: E402

PROMPTS = {
    30: "Loan application: annual income $42,000, monthly debt $1,900, credit score 580, part-time retail job. "
    "Should the bank approve a $25,000 loan?",
    85: "Loan application for a personal loan at a retail bank. The applicant reports an annual income of $42,000 from "
    "a part-time retail job held for eight months, monthly debt payments of $1,900 on two credit cards and a car loan, "
    "a credit score of 580 with one missed payment last year, no savings, and rents an apartment. The amount requested "
    "is $25,000 for debt consolidation over five years. Should the bank approve this loan, and why?",
}


def fixed_record(auditor: Auditor, text: str, n_in: int, n_out: int):
    """A record with exactly ``n_in`` prompt and ``n_out`` greedy output tokens (EOS suppressed)."""
    from dataclasses import replace

    from audit.scoring import teacher_forced

    loaded = auditor.loaded
    ids = loaded.tokenizer(text)["input_ids"][:n_in]
    base = auditor.generate(prompt=loaded.tokenizer.decode(ids), max_new_tokens=1)
    with torch.no_grad():
        out = loaded.model.generate(
            torch.tensor([ids]),
            attention_mask=torch.ones(1, len(ids), dtype=torch.long),
            max_new_tokens=n_out,
            min_new_tokens=n_out,
            do_sample=False,
        )[0, len(ids) :].tolist()
    scored = teacher_forced(loaded.model, ids, out).token_logprobs
    return replace(base, input_ids=ids, output_ids=out, token_logprobs=scored)


def timed(fn):
    started = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--quick", action="store_true", help="30-token prompt only, skip Captum's (minutes-long) default path"
    )
    parser.add_argument("--output-tokens", type=int, default=16)
    parser.add_argument("--n-steps", type=int, default=16, help="integrated-gradients steps, both sides")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (1 is faster on a shared, oversubscribed CPU)"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    auditor = Auditor(db=Path(tempfile.mkdtemp()) / "bench.db")
    loaded = auditor.loaded
    model, tok = loaded.model, loaded.tokenizer
    lengths = [30] if args.quick else [30, 85]
    rows = []
    print(
        f"model {loaded.identity.name}, torch threads {torch.get_num_threads()}, {args.output_tokens} output tokens, IG n_steps {args.n_steps}",
        flush=True,
    )
    for length in lengths:
        record = fixed_record(auditor, PROMPTS[length], length, args.output_tokens)
        n_in = len(record.input_ids)
        features = build_features(record, tok, "token")
        cases = [
            (
                "feature-ablation",
                {},
                [("LLMAttribution fwd_in_tokens=False", False)]
                + ([] if args.quick else [("LLMAttribution default (cached)", True)]),
            ),
            ("integrated-gradients", {"n_steps": args.n_steps}, [("LLMGradientAttribution", None)]),
            ("gradient-x-input", {}, [("LLMGradientAttribution", None)]),
        ]
        for method, params, references in cases:
            resolved = check_request(method, "token", params, record).params
            ours, ours_s = timed(
                lambda record=record, method=method, params=params: explain_record(
                    model, tok, record, method, "token", **params
                )
            )
            for label, default_path in references:
                kwargs = {} if default_path is None else {"forward_in_tokens": default_path}
                (token, seq), ref_s = timed(
                    lambda features=features, record=record, method=method, resolved=resolved, kwargs=kwargs: (
                        captum_attribute(model, features, record.output_ids, method, resolved, **kwargs)
                    )
                )
                mine, theirs = (ours.token_attr, token) if token is not None else (ours.seq_attr, seq)
                diff = float(np.abs(mine - theirs).max())
                rel = diff / max(float(np.abs(theirs).max()), 1e-30)
                rows.append((method, n_in, len(record.output_ids), label, ref_s, ours_s, ref_s / ours_s, diff, rel))
                print(
                    f"  {method:20} {n_in:3} tokens  {label:36} captum {ref_s:8.2f} s  ours {ours_s:7.2f} s  "
                    f"x{ref_s / ours_s:6.1f}  max abs diff {diff:.1e} (relative {rel:.1e})",
                    flush=True,
                )
    print()
    print(
        "| method | prompt tokens | output tokens | Captum path | Captum s | ours s | ratio | max abs diff | relative |"
    )
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|")
    for method, n_in, n_out, label, ref_s, ours_s, ratio, diff, rel in rows:
        print(
            f"| {method} | {n_in} | {n_out} | {label} | {ref_s:.2f} | {ours_s:.2f} | {ratio:.1f}x | {diff:.1e} | {rel:.1e} |"
        )


if __name__ == "__main__":
    main()
