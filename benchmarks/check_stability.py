"""Stability and faithfulness of each attribution method on the default model (figures for docs/readme/8-checks.md).

For the credit example (8 output tokens) it explains the record with every method, runs the
stochastic ones with 3 perturbation seeds (mean pairwise Spearman, 95% bootstrap CI), reruns
the deterministic ones once (they must agree exactly), and measures ERASER faithfulness
against random removal (the reference in the same run). Run: python benchmarks/check_stability.py
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from audit import Auditor
from audit.checks.faithfulness import measure
from audit.checks.metrics import spearman
from audit.checks.stability import stability
from audit.checks.suite import STOCHASTIC_METHODS, load_suite

RUNS = [
    ("feature-ablation", "field"), ("shapley-sampling", "field"), ("lime", "field"), ("kernel-shap", "field"),
    ("integrated-gradients", "field"), ("gradient-x-input", "field"),
    ("feature-ablation", "token"), ("gradient-x-input", "token"), ("integrated-gradients", "token"),
]


def main() -> None:
    case = load_suite(Path(__file__).resolve().parents[1] / "examples" / "ci" / "suite.toml").cases[0]
    with tempfile.TemporaryDirectory() as folder:
        auditor = Auditor(db=Path(folder) / "b.db")
        record = auditor.generate(**case.generate_kwargs())
        print(f"{case.name}: {len(record.input_ids)} prompt tokens, output {record.output_text!r}")
        print(f"{'method':22} {'gran.':6} {'feat':>4} {'s/run':>6} {'stability (95% CI)':>24} {'comp':>7} {'rand':>7} {'gain':>7} {'suff':>7} {'rand':>7} {'gain':>7}")
        for method, granularity in RUNS:
            seeds = 3 if method in STOCHASTIC_METHODS else 2
            started = time.perf_counter()
            runs = [auditor.explain(record.id, method=method, granularity=granularity,
                                    **({"perturbation_seed": s} if method in STOCHASTIC_METHODS else {})) for s in range(seeds)]
            per_run = (time.perf_counter() - started) / seeds
            if method in STOCHASTIC_METHODS:
                st = stability([r.seq_attr for r in runs])
                stab = f"{st.mean:.3f} [{st.low:.3f}, {st.high:.3f}]"
            else:
                stab = f"rerun rho {spearman(runs[0].seq_attr, runs[1].seq_attr):.3f}"
            f = measure(auditor.loaded.model, auditor.loaded.tokenizer, record, runs[0], random_orders=8)
            print(f"{method:22} {granularity:6} {len(runs[0].features):>4} {per_run:6.1f} {stab:>24} {f.comprehensiveness:7.3f} "
                  f"{f.random_comprehensiveness:7.3f} {f.comprehensiveness_gain:7.3f} {f.sufficiency:7.3f} {f.random_sufficiency:7.3f} {f.sufficiency_gain:7.3f}",
                  flush=True)


if __name__ == "__main__":
    main()
