"""Protected-attribute scoring: the batched prefix-cached scorer against the naive way, in one run.

* **batched**: :func:`audit.fairness.analyse.score_records` over recorded credit decisions, every
  substitution of 3 attributes x 4 values (12 per record, plus the recorded prompt's check), one
  batch per record through the label scorer;
* **naive**: for a sample of the same substitutions, one ``model.generate`` of the modified prompt with
  the record's own generation settings (greedy, the credit example's 40 new tokens) and the decision
  read from the text (:func:`audit.decision.labels.stated_label`), the way a team without a label
  scorer would check a swap.

Prints substitutions per second for both, the ratio (target >= 20x), how often the text the naive
way reads states the scored decision, and the wall time of ``llm-audit fairness`` (a separate
process, model load included) over ``--records`` synthetic credit records. The load average is
printed: ratios taken on a busy machine are not comparable.

The records compared are recorded with the example's settings (40 tokens); the ``--records`` records
for the CLI run are recorded with one new token (re-scoring never reads the output).

Run: python benchmarks/fairness.py [--records 200] [--scored 16] [--naive 24] [--quick]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audit import Auditor  # noqa: E402
from audit.counterfactual.values import parse_swaps  # noqa: E402
from audit.decision.labels import stated_label  # noqa: E402
from audit.examples import load_case  # noqa: E402
from audit.fairness.analyse import score_records  # noqa: E402
from audit.prompts import build_prompt  # noqa: E402

SWAPS = [
    "applicant_name=Emily Walsh,James Miller,Ngozi Okafor,Omar Khalil",
    "age=25,38,52,70",
    "marital_status=married,single,divorced,widowed",
]
INCOMES = ["$28,000", "$42,000", "$55,000", "$68,000", "$90,000"]
DEBTS = ["$600", "$1,100", "$1,900", "$2,400"]
SCORES = ["560", "610", "650", "700", "760"]


def synthetic_applications(case, n: int, seed: int = 0) -> list[dict[str, str]]:
    """The credit example's variables with income, debt, score and the protected fields drawn at random."""
    rng = random.Random(seed)
    names = ["Daniel Brooks", "Maria Garcia", "Sarah Thompson", "Kwame Mensah", "Layla Nasser", "Robert Hughes"]
    base = case.inputs["variables"]
    return [
        {
            **base,
            "applicant_name": rng.choice(names),
            "age": str(rng.randint(22, 75)),
            "marital_status": rng.choice(["married", "single", "divorced"]),
            "income": rng.choice(INCOMES),
            "monthly_debt": rng.choice(DEBTS),
            "credit_score": rng.choice(SCORES),
        }
        for _ in range(n)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=200, help="records for the CLI wall time")
    parser.add_argument("--scored", type=int, default=16, help="records for the batched-vs-naive comparison")
    parser.add_argument("--naive", type=int, default=24, help="substitutions generated the naive way")
    parser.add_argument("--quick", action="store_true", help="20 records, 8 scored, 8 naive (a smoke run)")
    args = parser.parse_args()
    if args.quick:
        args.records, args.scored, args.naive = 20, 8, 8
    case = load_case(ROOT / "examples" / "credit_decision.toml")
    swaps = parse_swaps(SWAPS)
    work = Path(tempfile.mkdtemp(prefix="llm-audit-fairness-bench-"))
    db = work / "bench.db"
    auditor = Auditor(db=db)
    loaded = auditor.loaded
    kwargs = case.generate_kwargs()
    decision = {**kwargs["decision"], "mode": "free"}  # the label scores are the same in both modes

    tokens = int(kwargs.get("max_new_tokens", 40))
    applications = synthetic_applications(case, args.records)
    started = time.perf_counter()
    sample = [auditor.generate(**{**kwargs, "variables": v, "decision": decision}) for v in applications[: args.scored]]
    for variables in applications[args.scored :]:
        auditor.generate(**{**kwargs, "variables": variables, "max_new_tokens": 1, "decision": decision})
    recorded_s = time.perf_counter() - started

    score_records(loaded, sample[:1], swaps)  # warm-up (kernels, allocator)
    started = time.perf_counter()
    scored = score_records(loaded, sample, swaps)
    batched_s = time.perf_counter() - started
    substitutions = sum(len(v) for r in scored for v in r.substitutions.values())

    plan = [(r, s.field, value) for r in sample for s in swaps for _, value in s.values][: args.naive]
    by_id = {r.record_id: r for r in scored}
    agree = 0
    model = loaded.model
    started = time.perf_counter()
    for record, name, value in plan:
        prompt = build_prompt(
            loaded.tokenizer,
            template=record.template,
            variables={**record.variables, name: value},
            system=record.system,
        )
        ids = torch.tensor([prompt.input_ids])
        with torch.no_grad():
            out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=tokens, do_sample=False)
        text = loaded.tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)
        read = stated_label(text, record.decision.labels)
        scored_choice = next(s.chosen for s in by_id[record.id].substitutions[name] if s.value == value)
        agree += read == scored_choice
    naive_s = time.perf_counter() - started

    cli_started = time.perf_counter()
    command = [sys.executable, "-m", "audit", "fairness", "--db", str(db), "--use-case", case.use_case, "--json"]
    command += [part for swap in SWAPS for part in ("--swap", swap)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    cli_s = time.perf_counter() - cli_started
    if done.returncode != 0:
        raise SystemExit(f"llm-audit fairness failed: {done.stderr.strip()}")

    batched_rate = substitutions / batched_s
    naive_rate = len(plan) / naive_s
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nmodel {loaded.identity.name}, {torch.get_num_threads()} threads, load average {load}")
    print(
        f"{args.records} credit records recorded ({args.scored} with {tokens} new tokens, the rest with 1) in "
        f"{recorded_s:.1f} s; prompts of {len(sample[0].input_ids)} tokens\n"
    )
    print("| path | substitutions | seconds | per second | ratio |")
    print("|---|---:|---:|---:|---:|")
    print(
        f"| naive: `generate` {tokens} tokens + read the label | {len(plan)} | {naive_s:.2f} | {naive_rate:.2f} | 1.0 |"
    )
    print(
        f"| batched label scorer ({len(sample)} records x 12) | {substitutions} | {batched_s:.2f} | "
        f"{batched_rate:.2f} | {batched_rate / naive_rate:.1f}x |"
    )
    print(f"\nthe naive way's text states the scored decision for {agree} of {len(plan)} substitutions")
    print(
        f"`llm-audit fairness` over {args.records} records x 3 attributes x 4 values "
        f"({args.records * 12} substitutions): {cli_s:.1f} s wall, model load included"
    )


if __name__ == "__main__":
    main()
