"""``monitor`` over N decided records (default 100,000) against one SELECT of the same rows, in the same run.

The records are synthetic (tests/monitor_records.py: a reference week and a current week of credit
decisions, N/2 each, written through the store); the reference is one plain ``SELECT`` of the columns
monitoring reads, over the same two weeks, fetched whole. The ratio says what parsing the decisions,
segmenting, counting and testing add to reading the rows. Run alone, at full size, on a quiet machine;
at a small N only to see it work:

    python benchmarks/monitor.py --records 2000
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from audit.monitor.run import MonitorRequest, monitor  # noqa: E402
from audit.store import AuditStore  # noqa: E402
from tests import monitor_records as synth  # noqa: E402

NOW = datetime(2026, 11, 15, tzinfo=UTC)


def timed(fn, repeat: int) -> tuple[float, object]:
    best, value = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - started)
    return best, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=100_000, help="decided records in all (half a week each)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the best is reported")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "monitor.db"
        started = time.perf_counter()
        synth.build(db, seed=1, n=args.records // 2, before=0.62, after=0.41)
        built = time.perf_counter() - started

        def select() -> int:
            with sqlite3.connect(db) as conn:
                rows = conn.execute(
                    "SELECT seq, id, started_at, use_case, variables, decision FROM generations "
                    "WHERE decision IS NOT NULL AND started_at >= ? AND started_at < ?",
                    ["2026-11-01T00:00:00.000000Z", "2026-11-15T00:00:00.000000Z"],
                ).fetchall()
            return len(rows)

        def run() -> object:
            with AuditStore.open(db) as store:
                return monitor(store, MonitorRequest(window="7d", segments=["income:40000,80000"], now=NOW))

        select_s, rows = timed(select, args.repeat)
        monitor_s, report = timed(run, args.repeat)
    low = next(c for c in report.windows[0].changes if c.segment == "income < 40,000" and c.metric == "decision_rate")
    print(f"records: {rows:,} decided ({args.records:,} written in {built:.1f} s)")
    print(f"one SELECT of the same rows: {select_s:.3f} s")
    print(f"monitor (2 weeks, 4 groups, {len(report.windows[0].changes)} tests): {monitor_s:.3f} s")
    print(f"ratio monitor / SELECT: {monitor_s / select_s:.1f}x")
    print(f"finding: {low.text}")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
