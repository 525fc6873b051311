"""Stability and faithfulness of each attribution method on the default model (figures for docs/checks.md).

For the credit example of ``examples/ci/suite.toml`` (8 output tokens) it explains the record
with every method: the stochastic ones (shapley-sampling, lime, kernel-shap) with K
perturbation seeds (mean pairwise Spearman of the runs, 95% bootstrap CI resampling runs),
the deterministic ones twice (a rerun must agree exactly). Faithfulness is ERASER's AOPC
comprehensiveness and sufficiency against random removal orders, the reference computed in
the same run (ratio = method / random; comprehensiveness: higher is better, sufficiency:
lower is better).

Sample counts are reduced where the default would take minutes per run on a shared laptop
CPU (shapley-sampling n_samples 10 instead of 25, integrated-gradients n_steps 16 instead of
50); token-level runs of the stochastic methods are left out (103 features: minutes per seed).

Run: OMP_NUM_THREADS=1 python benchmarks/check_stability.py [--quick]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from audit import Auditor
from audit.checks.faithfulness import measure
from audit.checks.metrics import spearman
from audit.checks.stability import stability
from audit.checks.suite import STOCHASTIC_METHODS, load_suite

# (method, granularity, parameters, runs): stochastic runs use seeds 0..runs-1
RUNS: list[tuple[str, str, dict[str, Any], int]] = [
    ("feature-ablation", "field", {}, 2),
    ("shapley-sampling", "field", {"n_samples": 10}, 3),
    ("lime", "field", {"n_samples": 25}, 5),
    ("kernel-shap", "field", {"n_samples": 25}, 5),
    ("integrated-gradients", "field", {"n_steps": 16}, 2),
    ("gradient-x-input", "field", {}, 2),
    ("feature-ablation", "token", {}, 2),
    ("gradient-x-input", "token", {}, 2),
]
RANDOM_ORDERS = 8


def row(method: str, granularity: str, params: dict[str, Any], count: int, auditor: Auditor, record) -> str:
    started = time.perf_counter()
    stochastic = method in STOCHASTIC_METHODS
    runs = [
        auditor.explain(
            record.id,
            method=method,
            granularity=granularity,
            **params,
            **({"perturbation_seed": s} if stochastic else {}),
        )
        for s in range(count)
    ]
    per_run = (time.perf_counter() - started) / count
    if stochastic:
        st = stability([r.seq_attr for r in runs])
        stab = f"{st.mean:.3f} [{st.low:.3f}, {st.high:.3f}] (K={count})"
    else:
        same = all(torch.equal(torch.as_tensor(r.seq_attr), torch.as_tensor(runs[0].seq_attr)) for r in runs[1:])
        stab = f"rerun rho {spearman(runs[0].seq_attr, runs[1].seq_attr):.3f}" + (
            ", identical" if same else ", NOT identical"
        )
    started = time.perf_counter()
    f = measure(auditor.loaded.model, auditor.loaded.tokenizer, record, runs[0], random_orders=RANDOM_ORDERS)
    faith_s = time.perf_counter() - started
    shown = ", ".join(f"{k} {v}" for k, v in params.items()) or "defaults"
    return (
        f"| {method} | {granularity} ({len(runs[0].features)}) | {shown} | {per_run:.1f} s | {stab} "
        f"| {f.comprehensiveness:.3f} vs {f.random_comprehensiveness:.3f} ± {f.random_comprehensiveness_sd:.3f} "
        f"(x{f.comprehensiveness / f.random_comprehensiveness:.2f}) "
        f"| {f.sufficiency:.3f} vs {f.random_sufficiency:.3f} ± {f.random_sufficiency_sd:.3f} "
        f"(x{f.sufficiency / f.random_sufficiency:.2f}) | {faith_s:.1f} s |"
    )


def main() -> None:
    quick = "--quick" in sys.argv  # field granularity only
    case = load_suite(Path(__file__).resolve().parents[1] / "examples" / "ci" / "suite.toml").cases[0]
    with tempfile.TemporaryDirectory() as folder:
        auditor = Auditor(db=Path(folder) / "b.db")
        record = auditor.generate(**case.generate_kwargs())
        print(
            f"{case.name}: {len(record.input_ids)} prompt tokens, output {record.output_text!r}, "
            f"torch threads {torch.get_num_threads()}, {RANDOM_ORDERS} random orders (mean ± sd across orders)"
        )
        print(
            "| method | granularity (features) | parameters | per run | stability across seeds, 95% CI | "
            "comprehensiveness vs random (ratio) | sufficiency vs random (ratio) | faithfulness time |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for method, granularity, params, count in RUNS:
            if quick and granularity != "field":
                continue
            print(row(method, granularity, params, count, auditor, record), flush=True)


if __name__ == "__main__":
    main()
