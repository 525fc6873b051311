"""Throughput of ``explain --all``: in-process against Ray with 1 and 2 (or --workers) workers.

Records N credit decisions with the default model (SmolLM2-135M-Instruct, short outputs),
then explains all of them with each executor on a fresh copy of the database. The
reference is the in-process executor measured in the same run; every Ray run must store
exactly the in-process arrays. Torch threads per worker are set so that the total equals
the cores given to Ray (``--cpus``), so each configuration uses the same CPU budget.

Two rates: ``steady`` counts only explaining and storing (workers already started, model
loaded), ``wall`` includes starting the workers and loading the model in each.

    python benchmarks/scale_out.py [--records 6] [--granularity field|token] [--workers 1,2]
    python benchmarks/scale_out.py --address auto --workers 4,8,16 --cpus 16   # on a running cluster
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from audit import Auditor
from audit.attribution.request import check_request
from audit.scale.executors import InProcessExecutor
from audit.scale.ray_executor import RayExecutor
from audit.scale.work import ExplainWork, ModelSpec
from audit.store import AuditStore

APPLICANTS = [
    ("$42,000", "580", "$25,000"),
    ("$95,000", "760", "$10,000"),
    ("$61,000", "690", "$40,000"),
    ("$28,000", "540", "$5,000"),
    ("$120,000", "805", "$250,000"),
    ("$75,000", "710", "$18,000"),
    ("$52,000", "655", "$30,000"),
    ("$88,000", "730", "$60,000"),
]
TEMPLATE = "Applicant: income {income}, credit score {score}, requested loan {loan}. Approve or decline?"


def record(db: Path, count: int, max_new_tokens: int) -> None:
    auditor = Auditor(db=db)
    for i in range(count):
        income, score, loan = APPLICANTS[i % len(APPLICANTS)]
        auditor.generate(
            system="You are a credit analyst. Answer in one word.",
            template=TEMPLATE,
            variables={"income": income, "score": score, "loan": loan},
            max_new_tokens=max_new_tokens,
            use_case="credit-decision",
            seed=i,
        )


def arrays(db: Path) -> dict[str, bytes]:
    with AuditStore.open(db) as store:
        return {e.record_id: e.token_attr.tobytes() + e.seq_attr.tobytes() for e in store.explanations.list()}


def run(source: Path, folder: Path, name: str, executor, method: str, granularity: str, loaded=None) -> dict:
    db = folder / f"{name}.db"
    shutil.copy(source, db)
    started = time.perf_counter()
    if isinstance(executor, RayExecutor):
        executor._actors_for(
            ExplainWork(check_request(method, granularity, {})), 1
        )  # start workers, load the model in each
    else:
        _ = executor.host.default
    startup = time.perf_counter() - started
    summary = Auditor(db=db, model=loaded).explain_all(method=method, granularity=granularity, executor=executor)
    if isinstance(executor, RayExecutor):
        executor.close()
    assert summary.stored == summary.todo and not summary.failures, summary.table()
    return {
        "name": name,
        "stored": summary.stored,
        "startup": startup,
        "steady": summary.seconds,
        "workers": summary.workers,
        "arrays": arrays(db),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=6)
    parser.add_argument("--max-new-tokens", type=int, default=8)
    parser.add_argument("--method", default="feature-ablation")
    parser.add_argument("--granularity", default="field", choices=["field", "token"])
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts for Ray")
    parser.add_argument(
        "--cpus", type=int, default=os.cpu_count() or 1, help="CPUs for the local Ray / threads in-process"
    )
    parser.add_argument(
        "--address", default=None, help="a running cluster (auto, ray://head:10001); default: a local Ray"
    )
    args = parser.parse_args()

    import ray
    import torch

    folder = Path(tempfile.mkdtemp(prefix="scale-out-"))
    source = folder / "recorded.db"
    torch.set_num_threads(args.cpus)
    record(source, args.records, args.max_new_tokens)
    auditor = Auditor(db=source)
    loaded = auditor.loaded
    results = [
        run(
            source,
            folder,
            f"in-process, {args.cpus} thr",
            InProcessExecutor(ModelSpec(), loaded),
            args.method,
            args.granularity,
            loaded,
        )
    ]
    if args.cpus > 1:  # on a shared machine, one thread can beat several (oversubscription): show it
        torch.set_num_threads(1)
        results.append(
            run(
                source,
                folder,
                "in-process, 1 thr",
                InProcessExecutor(ModelSpec(), loaded),
                args.method,
                args.granularity,
                loaded,
            )
        )
        torch.set_num_threads(args.cpus)
    if args.address:
        ray.init(address=args.address, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    else:
        ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    spec = auditor.model_spec()
    for workers in (int(w) for w in args.workers.split(",")):
        cpus = max(args.cpus / workers, 0.01)
        executor = RayExecutor(
            spec, workers=workers, cpus_per_worker=cpus, threads_per_worker=max(1, int(cpus)), keep_alive=True
        )
        label = f"ray, {workers} worker{'s' if workers > 1 else ''} x {max(1, int(cpus))} thr"
        results.append(run(source, folder, label, executor, args.method, args.granularity))
    ray.shutdown()

    reference = results[0]
    print(
        f"\n{args.records} records, {args.method} at {args.granularity} granularity, {args.max_new_tokens} new tokens, "
        f"default model, {args.cpus} CPUs in total\n"
    )
    print(
        f"{'executor':24} {'startup s':>9} {'explain s':>9} {'steady rec/s':>12} {'wall rec/s':>10} {'vs in-process':>13} {'same arrays':>11}"
    )
    base = reference["stored"] / reference["steady"]
    for r in results:
        steady = r["stored"] / r["steady"]
        wall = r["stored"] / (r["steady"] + r["startup"])
        same = "yes" if r["arrays"] == reference["arrays"] else "NO"
        print(
            f"{r['name']:24} {r['startup']:>9.2f} {r['steady']:>9.2f} {steady:>12.3f} {wall:>10.3f} {steady / base:>12.2f}x {same:>11}"
        )
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
