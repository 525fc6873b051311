"""Evidence packs: ``export`` and ``verify-pack`` of N records against reading and hashing the same rows.

    python benchmarks/export.py            # 10,000 records, each with an explanation
    python benchmarks/export.py 200        # shows it works

Records one real generation and one explanation of it with the tiny test model (the cost of a pack
does not depend on the model), clones them N times the way ``benchmarks/verify.py`` does (new ids,
each row with its chained event), signs a checkpoint, then times, in the same run:

* the reference: read the same event rows with ``sqlite3`` and SHA-256 each payload;
* ``export`` of every record (it verifies the whole log first), with and without the per-record dossiers;
* ``verify-pack`` of the pack, as a folder and as a zip (the standalone verifier).

Prints seconds, MB, records/s and the ratio to the reference, and the load average.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]
os.environ["LLM_AUDIT_CHECKPOINT_EVERY"] = "0"  # the builder signs where it chooses
os.environ.setdefault("XDG_CONFIG_HOME", tempfile.mkdtemp(prefix="llm-audit-bench-config-"))
os.environ["LLM_AUDIT_TRUST_FILE"] = str(Path(tempfile.mkdtemp(prefix="llm-audit-bench-trust-")) / "trusted_keys")

from verify import KEYS, build_generations  # noqa: E402

from audit import Auditor  # noqa: E402
from audit.pack import ExportOptions, Selection, api  # noqa: E402
from tests.conftest import build_tiny_model  # noqa: E402


def reference(db: Path, size: int) -> float:
    """Read the event rows of the pack's log with plain sqlite3 and hash each payload (best of 3)."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            for (payload,) in conn.execute("SELECT payload FROM events WHERE seq <= ? ORDER BY seq", [size]):
                hashlib.sha256(payload.encode("utf-8")).digest()
        best = min(best, time.perf_counter() - started)
    return best


def folder_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("records", type=int, nargs="?", default=10_000, help="How many records [10,000].")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="llm-audit-bench-export-"))
    auditor = Auditor(db=folder / "real.db", model=str(build_tiny_model(folder / "tiny")), device="cpu")
    record = auditor.generate(
        template="Applicant income {income}, credit score {score}. Should the loan be approved?",
        variables={"income": "$42,000", "score": "580"},
        use_case="credit-decision",
        max_new_tokens=16,
    )
    explanation = auditor.explain(record.id, method="feature-ablation", granularity="field")
    db = folder / "bench.db"
    build_s = build_generations(db, record, explanation, args.records)
    key = db.with_name(db.name + ".bench-key")
    assert KEYS[db] is not None and key.exists()
    with sqlite3.connect(db) as conn:
        size = conn.execute("SELECT MAX(tree_size) FROM checkpoints").fetchone()[0]
    ref_s = reference(db, size)

    rows = []
    for label, dossiers in (("export, no dossiers", False), ("export with dossiers", True)):
        out = folder / f"pack-{dossiers}"
        started = time.perf_counter()
        made = api.export(
            db,
            ExportOptions(
                out, Selection.build(use_case="credit-decision"), signing_key=key, zipped=True, dossiers=dossiers
            ),
            key=[key],
        )
        seconds = time.perf_counter() - started
        rows.append((label, made.records, seconds, folder_mb(out)))
        pack = out
    public = folder / "bench.pub.pem"
    public.write_text(KEYS[db].public_pem())
    for label, target in (("verify-pack (folder)", pack), ("verify-pack (zip)", pack.with_name(pack.name + ".zip"))):
        started = time.perf_counter()
        result = api.verify_pack(target, [public])
        seconds = time.perf_counter() - started
        assert result.ok, result.problems[:3]
        rows.append(
            (label, made.records, seconds, target.stat().st_size / 1e6 if target.is_file() else folder_mb(target))
        )

    print(
        f"Evidence packs, {made.records:,} records each with an explanation ({size:,} events; built in {build_s:.1f} s)"
    )
    print(
        f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} on {os.cpu_count()} CPUs"
    )
    print(f"{'':32} {'seconds':>9} {'MB':>8} {'records/s':>11} {'x reference':>12}")
    print(f"{'reference: sqlite3 read + SHA-256':32} {ref_s:9.3f} {'':>8} {made.records / ref_s:11,.0f} {1:12.1f}")
    for label, n, seconds, mb in rows:
        print(f"{label:32} {seconds:9.3f} {mb:8.1f} {n / seconds:11,.0f} {seconds / ref_s:12.1f}")
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
