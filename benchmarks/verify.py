"""Verification throughput and per-record append overhead of the tamper-evident log.

    python benchmarks/verify.py                 # 100,000 events, 100,000 generations, default model
    python benchmarks/verify.py --events 20000 --generations 5000 --no-model

1. Builds N synthetic chained events (an attribution-like ~0.5 KB payload each, a signed
   checkpoint every 1,000) and times ``verify`` against a reference pass that only reads
   the same rows.
2. Clones one real generation record G times (new ids) and times ``verify`` with the
   generation projection (every record rebuilt from the ``generations`` table), against
   a reference pass that only reads the event rows and hashes each payload.
3. Records one generation with the default model (SmolLM2-135M) and compares the chained
   append (RFC 8785 + hashes + insert + commit) with the v1 append (json.dumps + insert +
   commit) and with the generation itself.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audit import Auditor  # noqa: E402
from audit.clock import utc_iso  # noqa: E402
from audit.ids import uuid7  # noqa: E402
from audit.integrity.chain import GENESIS, header_sha256, leaf_hash, seal  # noqa: E402
from audit.integrity.signing import create_key  # noqa: E402
from audit.integrity.verify import verify_database  # noqa: E402
from audit.store import AuditStore  # noqa: E402
from audit.store.records import generation_payload  # noqa: E402


def build_synthetic(db: Path, n: int, every: int) -> float:
    started = time.perf_counter()
    with AuditStore.open(db, write=True) as store:
        key = create_key(Path(str(db) + ".key"))
        conn = store.db.conn
        prev = GENESIS
        conn.execute("BEGIN IMMEDIATE")
        rows = []
        for seq in range(1, n + 1):
            payload = {
                "record_id": f"rec-{seq // 10}",
                "method": "feature-ablation",
                "scores_sha256": hashlib.sha256(seq.to_bytes(8, "big")).hexdigest(),
                "top_tokens": [["income", 0.4123 + seq % 7 / 100], ["score", -0.2231], ["580", 0.1172]],
                "params": {"baseline": "pad", "n_steps": 50},
            }
            event = seal(seq, prev, "explanation-bench", payload["record_id"], "2026-01-01T00:00:00.000000Z", payload)
            rows.append(
                (
                    event.seq,
                    event.kind,
                    event.subject_id,
                    event.created_at,
                    event.payload,
                    event.payload_sha256,
                    event.prev_hash,
                    event.leaf_hash,
                )
            )
            prev = bytes.fromhex(event.leaf_hash)
            if seq % every == 0 or seq == n:
                conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
                rows = []
                store.events.checkpoint(key)
        conn.execute("COMMIT")
    return time.perf_counter() - started


def reference_read(db: Path) -> float:
    """The floor: stream the same rows and hash each payload once, checking nothing else."""
    started = time.perf_counter()
    with AuditStore.open(db) as store:
        for event in store.events.iter_chain():
            hashlib.sha256(event.payload.encode()).digest()
    return time.perf_counter() - started


def timed_verify(db: Path) -> tuple[float, int]:
    started = time.perf_counter()
    result = verify_database(db, Path(str(db) + ".key"))
    assert result.ok, result.problems[:3]
    return time.perf_counter() - started, result.events


def build_generations(db: Path, template, g: int) -> float:
    """Store ``template`` once through the normal path, then G-1 copies with new ids.

    The copies are made the way the normal path would make them, only faster: the row is
    copied in SQL with the id replaced (the JSON columns are already canonical) and the
    event's canonical payload text is the template's with the id replaced (ids have a fixed
    length and appear only as ``"id"``), so 100,000 records build in about a minute
    instead of the hours that 100,000 real generations would take.
    """
    started = time.perf_counter()
    with AuditStore.open(db, write=True) as store:
        create_key(Path(str(db) + ".key"))
        with store.transaction():
            template = replace(template, id=uuid7(), seq=None)
            template.seq = store.records.insert(template)
            store.events.append("generation", template.id, generation_payload(template))
        conn = store.db.conn
        columns = [c for c in store.db["generations"].columns_dict if c not in ("seq", "id")]
        copy_sql = f"INSERT INTO generations (id, {', '.join(columns)}) SELECT ?, {', '.join(columns)} FROM generations WHERE id = ?"
        text = next(store.events.iter_chain()).payload
        prev = bytes.fromhex(next(store.events.iter_chain()).leaf_hash)
        for start in range(2, g + 1, 5000):
            conn.execute("BEGIN IMMEDIATE")
            rows = []
            for seq in range(start, min(g, start + 4999) + 1):
                record_id = uuid7()
                conn.execute(copy_sql, [record_id, template.id])
                payload = text.replace(f'"id":"{template.id}"', f'"id":"{record_id}"').encode()
                digest = hashlib.sha256(payload).digest()
                created = utc_iso()
                leaf = leaf_hash(seq, prev, digest, header_sha256("generation", record_id, created))
                rows.append(
                    (seq, "generation", record_id, created, payload.decode(), digest.hex(), prev.hex(), leaf.hex())
                )
                prev = leaf
            conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
            conn.execute("COMMIT")
        store.events.checkpoint()
    return time.perf_counter() - started


def append_costs(db: Path, record, repeats: int) -> tuple[float, float]:
    """Median seconds of one chained append vs one v1-style append, each with its own commit."""
    chained, plain = [], []
    with AuditStore.open(db, write=True) as store:
        conn = store.db.conn
        conn.execute(
            "CREATE TABLE IF NOT EXISTS events_v1 (seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT, subject_id TEXT, created_at TEXT, payload TEXT)"
        )
        payload = generation_payload(record)
        for _ in range(repeats):
            started = time.perf_counter()
            with store.transaction():
                store.events.append("generation-bench", record.id, payload)
            chained.append(time.perf_counter() - started)
            started = time.perf_counter()
            with store.transaction():
                text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
                conn.execute(
                    "INSERT INTO events_v1 (kind, subject_id, created_at, payload) VALUES (?, ?, ?, ?)",
                    ["generation-bench", record.id, utc_iso(), text],
                )
            plain.append(time.perf_counter() - started)
    return statistics.median(chained), statistics.median(plain)


def print_verify_table(
    title: str, unit: str, n: int, ref_s: float, ver_s: float, ref_label: str, ver_label: str
) -> None:
    print(f"\n## {title}\n")
    print(f"| pass | seconds | {unit} | ratio |\n|---|---:|---:|---:|")
    print(f"| {ref_label} | {ref_s:.2f} | {n / ref_s:,.0f} | 1.00 |")
    print(f"| {ver_label} | {ver_s:.2f} | {n / ver_s:,.0f} | {ver_s / ref_s:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--generations", type=int, default=100_000)
    parser.add_argument("--no-model", action="store_true", help="Skip the default model (use a synthetic record).")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="llm-audit-bench-"))

    synthetic = folder / "synthetic.db"
    build_s = build_synthetic(synthetic, args.events, 1000)
    ref_s = reference_read(synthetic)
    ver_s, n = timed_verify(synthetic)
    size_mb = synthetic.stat().st_size / 1e6
    print_verify_table(
        f"Verification, {n:,} synthetic events ({size_mb:.0f} MB, {n // 1000} checkpoints; built in {build_s:.1f} s)",
        "events/s",
        n,
        ref_s,
        ver_s,
        "reference: read rows + SHA-256 of payload",
        "llm-audit verify (chain, leaves, Merkle, signatures)",
    )

    if args.no_model:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from conftest import build_tiny_model  # noqa: E402

        model = str(build_tiny_model(folder / "tiny"))
        label = "tiny Llama"
    else:
        model, label = None, "SmolLM2-135M-Instruct (default)"
    auditor = Auditor(db=folder / "real.db", model=model, device="cpu")
    _ = auditor.loaded
    case = dict(
        system="You are a credit analyst at a bank. Answer in two sentences.",
        template="Applicant income {income}, credit score {score}, debt-to-income {dti}. Should the loan be approved?",
        variables={"income": "$42,000", "score": "580", "dti": "41%"},
        use_case="credit-decision",
    )
    auditor.generate(**case, max_new_tokens=2)  # warm-up: first-call costs are not the steady state
    started = time.perf_counter()
    record = auditor.generate(**case, max_new_tokens=32)
    gen_s = time.perf_counter() - started

    gens = folder / "generations.db"
    gbuild_s = build_generations(gens, record, args.generations)
    gref_s = reference_read(gens)
    gver_s, gn = timed_verify(gens)
    gsize = gens.stat().st_size / 1e6
    print_verify_table(
        f"Verification with projections, {gn:,} generation records ({label}, {record.output_tokens} output tokens each; "
        f"{gsize:,.0f} MB, built in {gbuild_s:.0f} s)",
        "records/s",
        gn,
        gref_s,
        gver_s,
        "reference: read event rows + SHA-256 of payload",
        "verify (rebuild each record from `generations`, compare, chain, Merkle, signature)",
    )

    chained_s, plain_s = append_costs(folder / "append.db", record, 50)
    print(
        f"\n## Per-record append overhead ({label}, one record of {len(json.dumps(generation_payload(record))):,} bytes JSON)\n"
    )
    print("| step | ms | ratio to v1 append |\n|---|---:|---:|")
    print(f"| v1 append: json.dumps + INSERT + COMMIT (reference) | {plain_s * 1e3:.2f} | 1.00 |")
    print(
        f"| chained append: RFC 8785 + SHA-256 x3 + INSERT + COMMIT | {chained_s * 1e3:.2f} | {chained_s / plain_s:.2f} |"
    )
    print(f"| the generation itself (generate + store) | {gen_s * 1e3:.0f} | {gen_s / plain_s:.0f} |")
    print(f"\nchain overhead = {(chained_s - plain_s) / gen_s:.2%} of one recorded generation; files in {folder}")


if __name__ == "__main__":
    main()
