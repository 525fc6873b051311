"""Render time and size of a dossier (1 record) and a summary (1,000 records).

Uses the demo database (``make demo``) or any ``--db``: the summary's 1,000 records are
the database's records repeated under fresh ids in a temporary copy, so the figures
measure the report, not the model. The reference in the same run is reading the same
records from the store without rendering, so the table shows what rendering adds.

    python benchmarks/report.py --db llm-audit.db
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audit import Auditor  # noqa: E402
from audit.store import AuditStore  # noqa: E402


def grow(db: Path, target: int) -> None:
    with AuditStore.open(db, write=True) as store:
        records = list(store.records.iter())
        have = len(records)
        with store.transaction():
            for k in range(target - have):
                base = records[k % have]
                copy = dataclasses.replace(base, id=f"{base.id[:-12]}{k:012d}", seq=None)
                store.records.insert(copy)


def timed(fn) -> tuple[float, object]:
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", type=Path, default=Path("llm-audit.db"))
    parser.add_argument("--records", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        shutil.copy(args.db, db)
        auditor = Auditor(db=db)
        first = auditor.list(limit=1)[0].id
        rows = []
        read_1, _ = timed(lambda: auditor.get(first))
        secs, out = timed(
            lambda: auditor.report([first], Path(tmp) / "dossier.html", generated_at="2026-03-04T12:00:00Z")
        )
        rows.append(("dossier", 1, read_1, secs, out.size_bytes))
        grow(db, args.records)
        n = len(auditor.list())
        read_n, _ = timed(lambda: auditor.list())
        secs, out = timed(lambda: auditor.report(None, Path(tmp) / "summary.html", generated_at="2026-03-04T12:00:00Z"))
        rows.append(("summary", n, read_n, secs, out.size_bytes))
    print(f"{'report':8} {'records':>7} {'read only s':>11} {'report s':>9} {'ratio':>6} {'size KiB':>9}")
    for kind, count, read, secs, size in rows:
        print(f"{kind:8} {count:>7} {read:>11.3f} {secs:>9.3f} {secs / read:>6.1f} {size / 1024:>9.0f}")


if __name__ == "__main__":
    main()
