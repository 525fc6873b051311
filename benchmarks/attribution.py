"""Benchmark: our attribution path against Captum's own LLM wrappers, same model, same inputs, one process.

    python benchmarks/attribution.py            # 30- and 85-token prompts, 16 output tokens (minutes)
    python benchmarks/attribution.py --quick    # 30-token prompt, no Captum default path (about a minute)
    python benchmarks/attribution.py --decision-only [--quick]   # only the decision-target rows

Rows: feature ablation against Captum ``LLMAttribution`` with its default path
(``forward_in_tokens=True``, KV-cached: slow and, see tests, wrong after the first target token) and
with ``forward_in_tokens=False``; integrated gradients and gradient x input against
``LLMGradientAttribution``. "max abs diff" compares attribution matrices (token_attr, or seq_attr
where Captum gives no per-token result).

Decision rows (the credit example, recorded with its decision): our explanation of log p(chosen) -
log p(contrast) at field and token granularity, against (a) Captum's ``LLMAttribution`` /
``LLMGradientAttribution`` with each label's token ids as the target (``forward_in_tokens=False``), run
once for the chosen label and once for the contrast and subtracted (both methods are linear in the
target, so that is the same quantity), and (b) Captum's own algorithm with a forward function that
returns the contrastive score (:func:`audit.attribution.reference.captum_decision_attribute`). The
output-target row on the same record says what explaining its whole text costs.
"""

from __future__ import annotations

import argparse
import os
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
from audit.attribution.reference import captum_attribute, captum_decision_attribute  # noqa: E402
from audit.attribution.request import check_request  # noqa: E402
from audit.examples import load_case  # noqa: E402

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


def timed_call(fn, *args, **kwargs):
    started = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - started


def timed(fn):
    started = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - started


def decision_rows(auditor: Auditor, n_steps: int, quick: bool) -> list[tuple]:
    """Decision-target rows on the credit example (see the module docstring)."""
    loaded = auditor.loaded
    model, tok = loaded.model, loaded.tokenizer
    case = load_case(Path(__file__).resolve().parents[1] / "examples" / "credit_decision.toml")
    record = auditor.generate(**case.generate_kwargs())
    d = record.decision
    label_ids, contrast_ids = d.label_token_ids[d.chosen], d.label_token_ids[d.runner_up]
    print(
        f"credit example: {len(record.input_ids)} prompt tokens, {len(record.output_ids)} output tokens, decision "
        f"{d.chosen} (p {d.probabilities[d.chosen]:.3f}) vs {d.runner_up}, label tokens {len(label_ids)} and "
        f"{len(contrast_ids)}",
        flush=True,
    )
    rows = []
    methods = [("feature-ablation", {}), ("integrated-gradients", {"n_steps": n_steps})]
    explain_record(model, tok, record, "feature-ablation", "field")  # warm-up: imports and first passes, untimed
    for granularity in ("field", "token"):
        features = build_features(record, tok, granularity)
        for method, params in methods:
            resolved = check_request(method, granularity, params, record).params
            ours, ours_s = timed_call(explain_record, model, tok, record, method, granularity, **params)
            (by_label, _), s1 = timed_call(captum_attribute, model, features, label_ids, method, resolved)
            (by_contrast, _), s2 = timed_call(captum_attribute, model, features, contrast_ids, method, resolved)
            llm = (by_label.sum(0) if by_label is not None else None) - (
                by_contrast.sum(0) if by_contrast is not None else None
            )
            (contrastive, _, _), s3 = timed_call(
                captum_decision_attribute, model, features, label_ids, contrast_ids, method, resolved
            )
            scale = 1.0 if method == "feature-ablation" else max(float(np.abs(contrastive).max()), 1e-30)
            for label, ref, ref_s in (
                ("LLMAttribution label - contrast (2 runs)", llm, s1 + s2),
                ("contrastive forward (Captum algorithm)", contrastive, s3),
            ):
                label = (
                    label.replace("LLMAttribution", "LLMGradientAttribution") if method != "feature-ablation" else label
                )
                diff = float(np.abs(ours.seq_attr - ref).max())
                rows.append(
                    (
                        f"{method} (decision)",
                        granularity,
                        len(features.labels),
                        label,
                        ref_s,
                        ours_s,
                        diff,
                        diff / scale,
                    )
                )
                print(
                    f"  decision {method:20} {granularity:5} {len(features.labels):3} features  {label:44} captum {ref_s:8.2f} s  "
                    f"ours {ours_s:7.2f} s  x{ref_s / ours_s:6.1f}  max abs diff {diff:.1e}",
                    flush=True,
                )
        text, text_s = timed_call(explain_record, model, tok, record, "feature-ablation", granularity, target="output")
        rows.append(
            (
                "feature-ablation (output)",
                granularity,
                len(text.features),
                f"ours, the {len(record.output_ids)}-token text",
                None,
                text_s,
                None,
                None,
            )
        )
        print(
            f"  output   feature-ablation     {granularity:5} ours {text_s:7.2f} s (the whole {len(record.output_ids)}-token text)",
            flush=True,
        )
    return rows


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
    parser.add_argument("--decision-only", action="store_true", help="only the decision-target rows")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    auditor = Auditor(db=Path(tempfile.mkdtemp()) / "bench.db")
    loaded = auditor.loaded
    print(f"load average {os.getloadavg()[0]:.1f} {os.getloadavg()[1]:.1f} {os.getloadavg()[2]:.1f}", flush=True)
    decisions = decision_rows(auditor, args.n_steps, args.quick)
    print()
    print(
        "| target, method | granularity | features | Captum path | Captum s | ours s | ratio | max abs diff | relative |"
    )
    print("|---|---|---:|---|---:|---:|---:|---:|---:|")
    for method, granularity, n, label, ref_s, ours_s, diff, rel in decisions:
        ratio = f"{ref_s / ours_s:.1f}x" if ref_s else "—"
        numbers = f"{diff:.1e} | {rel:.1e}" if diff is not None else "— | —"
        print(f"| {method} | {granularity} | {n} | {label} | {ref_s or 0:.2f} | {ours_s:.2f} | {ratio} | {numbers} |")
    if args.decision_only:
        return
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
