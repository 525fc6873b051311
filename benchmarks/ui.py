"""The review workspace at scale: server time of the queue, a filtered list and a record page; sign-off commit;
the record page's first-screen bytes; 20 readers and 2 writers at once.

    python benchmarks/ui.py                    # 100,000 synthetic records (the issue's figure)
    python benchmarks/ui.py --quick            # 10,000 records, fewer requests (shared machines)
    python benchmarks/ui.py --records 300 --requests 5 --soak 5   # a smoke run

1. Builds a synthetic database through the store's own append path (every record a chained
   ``generation`` event; 5 % replayed, one in five of those not identical; 30 % signed off, 1 %
   with an open finding), then signs one checkpoint. No model runs: records are shaped like the
   demo's (a template with three fields, 60 input and 16 output tokens, top-2 alternatives:
   small, so that building 100,000 through the real append path takes minutes, not an hour).
2. Builds the review index once (what the first page view after an upgrade pays).
3. Times each page over HTTP (uvicorn on loopback, a personal API token, the whole response read)
   against the same review API called directly in this process: the ratio is what HTTP, the
   templates and the security layer add. p50 and p95 over ``--requests`` requests each.
4. Times a sign-off's commit: ``POST /api/records/{id}/reviews`` until the 201, against a direct
   ``Reviews.sign_off``; both write the row and its chained event in one transaction (fsync'd).

5. Measures the record page's first response (decision first, the heavy dossier parts on pages of
   their own) against the whole dossier it summarises (the HTML download), in bytes.
6. Runs ``--readers`` clients (queue, list and record pages, a dossier part) and ``--writers`` clients
   (sign-offs of unsigned records, then taking and giving back records) at once for ``--soak``
   seconds; every response must be a success (any error is printed and fails the run).

Targets (issues 18 and 29): list and queue pages under 300 ms at p95, a record page under 1 s, the
record page's first response under 150 KB, no error under 20 readers and 2 writers for 30 s.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

os.environ["LLM_AUDIT_CHECKPOINT_EVERY"] = "0"  # one checkpoint at the end, not one per 100 appends

from audit import Auditor  # noqa: E402
from audit.environment import Environment  # noqa: E402
from audit.ids import uuid7  # noqa: E402
from audit.record import DecisionRecord, GenerationRecord, ModelIdentity, TopAlternative  # noqa: E402
from audit.replay.result import Divergence, ReplayResult  # noqa: E402
from audit.review.queue import refresh  # noqa: E402
from audit.review.roles import Principal  # noqa: E402
from audit.store import AuditStore  # noqa: E402
from audit.store.review_index import RecordFilter  # noqa: E402
from audit.store.reviews import SignOff  # noqa: E402

CASES = ["credit-decision", "risk-assessment", "financial-advice", "news-summary", "legal-text"]
OPERATORS = ["ops-batch", "ops-api", "analyst-1", "analyst-2"]
WORDS = "income score salary arrears mortgage liability clause bond yield rate covenant default".split()
CLI = Principal("benchmark", "admin", "cli")
PASSWORD = "benchmark password 1"


def synthetic_record(i: int, started: datetime, rng: random.Random) -> GenerationRecord:
    income, score = rng.randrange(18, 250) * 1000, rng.randrange(300, 850)
    words = " ".join(rng.sample(WORDS, 3))
    variables = {"income": f"${income:,}", "score": str(score), "note": words}
    template = "Annual income {income}, credit score {score}, notes: {note}. Approve the loan?"
    output_ids = [rng.randrange(2, 49000) for _ in range(16)]
    logprobs = [-rng.random() * 2 for _ in output_ids]
    top = [[TopAlternative(t + k, f"tok{t + k}", lp - k) for k in range(2)] for t, lp in zip(output_ids, logprobs)]
    at = started.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    model = ModelIdentity(
        "synthetic",
        "benchmark",
        "LlamaForCausalLM",
        "llama",
        135_000_000,
        None,
        {"model.safetensors": "ab" * 32},
        "cd" * 32,
        {"tokenizer.json": "ef" * 32},
        None,
        2048,
    )
    env = Environment("3.11", {"torch": "2.13.0"}, "Linux", "x86_64", "cpu", "cpu", "cpu", "float32", 2)
    return GenerationRecord(
        id=uuid7(int(started.timestamp() * 1000)),
        started_at=at,
        finished_at=at,
        duration_s=0.4,
        use_case=CASES[i % len(CASES)],
        operator=OPERATORS[i % len(OPERATORS)],
        prompt_kind="template",
        prompt=template.format(**variables),
        template=template,
        variables=variables,
        messages=None,
        system=None,
        add_special_tokens=True,
        input_ids=[rng.randrange(2, 49000) for _ in range(60)],
        output_ids=output_ids,
        output_text=rng.choice(["APPROVE", "DECLINE"]) + " " + words,
        finish_reason="length",
        token_logprobs=logprobs,
        top_logprobs=top,
        generation_config={"do_sample": False, "max_new_tokens": 16},
        seed=0,
        model=model,
        environment=env,
        decision=synthetic_decision(rng) if i % len(CASES) == 0 else None,
    )


def synthetic_decision(rng: random.Random) -> DecisionRecord:
    """A credit decision as the scorer records it: whole-sequence label log-probabilities, renormalised."""
    lps = {"APPROVE": -rng.random() * 3, "DECLINE": -rng.random() * 3}
    total = sum(math.exp(v) for v in lps.values())
    chosen, runner_up = sorted(lps, key=lambda k: -lps[k])
    return DecisionRecord(
        ["APPROVE", "DECLINE"],
        "APPROVE",
        "free",
        {"APPROVE": [101], "DECLINE": [102]},
        lps,
        {k: math.exp(v) / total for k, v in lps.items()},
        chosen,
        runner_up,
        lps[chosen] - lps[runner_up],
        chosen,
        True,
        {"score": "Credit score"},
    )


def build(db: Path, n: int) -> tuple[float, list[str]]:
    rng = random.Random(0)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    began = time.perf_counter()
    ids: list[str] = []
    with AuditStore.open(db, write=True) as store:
        for chunk in range(0, n, 1000):
            with store.transaction():
                for i in range(chunk, min(n, chunk + 1000)):
                    record = synthetic_record(i, start + timedelta(seconds=i * 315), rng)
                    store.records.append(record)
                    ids.append(record.id)
                    roll = rng.random()
                    if roll < 0.05:
                        verdict = "identical" if rng.random() < 0.8 else "diverged"
                        divergence = Divergence(3, 5, "A", 6, "B", 0.01) if verdict == "diverged" else None
                        store.replays.append(
                            ReplayResult(record.id, verdict, {}, {}, divergence, 0.0, record.output_ids, 0.3)
                        )
                    if rng.random() < 0.30:
                        action = "accept" if rng.random() < 0.85 else "override"
                        logged = store.events.logged("generation", record.id)
                        store.reviews.append(
                            SignOff(
                                uuid7(),
                                record.id,
                                logged.payload_sha256,
                                "rita",
                                "reviewer",
                                action,
                                "DECLINE" if action == "override" else None,
                                "synthetic",
                                "web",
                                record.started_at,
                            )
                        )
    auditor = Auditor(db=db)
    auditor.reviews.accounts.add(CLI, "rita", "reviewer", PASSWORD)
    auditor.reviews.accounts.add(CLI, "vic", "validator", PASSWORD)
    vic = auditor.reviews.session_user("vic")
    for record_id in rng.sample(ids, max(1, n // 100)):
        auditor.reviews.add_finding(vic, record_id, "medium", "data", "synthetic finding")
    auditor.checkpoint()
    return time.perf_counter() - began, ids


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def timed(call, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        began = time.perf_counter()
        call()
        out.append(time.perf_counter() - began)
    return out


def concurrent(url: str, token: str, ids: list[str], args) -> tuple[int, int, list[str], float]:
    """``args.readers`` readers and ``args.writers`` writers at once for ``args.soak`` seconds, each its own
    client: (reads, writes, errors, the reads' p95 in seconds)."""
    import httpx

    stop = time.monotonic() + args.soak
    lock = threading.Lock()
    reads: list[float] = []
    writes = [0]
    errors: list[str] = []
    headers = {"Authorization": f"Bearer {token}"}
    unsigned = httpx.get(f"{url}/api/records?review=unreviewed", headers=headers, timeout=60).json()["records"]
    mine = [r["record_id"] for r in unsigned]

    def check(response, what: str) -> None:
        if response.status_code >= 400:
            with lock:
                errors.append(f"{what}: {response.status_code} {response.text[:200]}")

    def reader(n: int) -> None:
        rng = random.Random(n)
        with httpx.Client(base_url=url, timeout=60, headers=headers) as client:
            while time.monotonic() < stop:
                record = rng.choice(ids)
                path = rng.choice(
                    ["/queue", "/queue?page=3", "/records?use_case=credit-decision", f"/records/{record}",
                     f"/records/{record}/part/reproducibility", "/api/queue"]
                )  # fmt: skip
                began = time.perf_counter()
                try:
                    response = client.get(path)
                except httpx.HTTPError as exc:
                    with lock:
                        errors.append(f"GET {path}: {exc!r}")
                    continue
                check(response, f"GET {path}")
                with lock:
                    reads.append(time.perf_counter() - began)

    def writer(n: int) -> None:
        todo = mine[n :: max(1, args.writers)]
        own = ids[n :: max(1, args.writers)][:5]
        with httpx.Client(base_url=url, timeout=60, headers=headers) as client:
            turn = 0
            while time.monotonic() < stop:
                try:
                    if todo:
                        record = todo.pop()
                        response = client.post(f"/api/records/{record}/reviews", json={"action": "accept"})
                    else:
                        record = own[turn % len(own)]
                        taken = turn // len(own) % 2 == 0
                        response = client.post(
                            f"/api/records/{record}/assign", json={"assignee": "rita" if taken else ""}
                        )
                        turn += 1
                except httpx.HTTPError as exc:
                    with lock:
                        errors.append(f"write: {exc!r}")
                    continue
                check(response, f"POST {record}")
                with lock:
                    writes[0] += 1

    threads = [threading.Thread(target=reader, args=(n,)) for n in range(args.readers)]
    threads += [threading.Thread(target=writer, args=(n,)) for n in range(args.writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(reads), writes[0], errors, percentiles(reads)[1] if reads else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="10,000 records, 15 requests per page")
    parser.add_argument("--soak", type=float, default=30.0, help="seconds of concurrent readers and writers")
    parser.add_argument("--readers", type=int, default=20)
    parser.add_argument("--writers", type=int, default=2)
    args = parser.parse_args()
    if args.quick:
        args.records, args.requests = 10_000, 15

    import httpx

    from audit.ui.app import create_app
    from audit.ui.forms import record_filter
    from audit.web.background import BackgroundServer

    with tempfile.TemporaryDirectory(prefix="llm-audit-ui-bench-") as folder:
        db = Path(folder) / "audit.db"
        built, ids = build(db, args.records)
        size = db.stat().st_size + (
            db.with_name(db.name + "-wal").stat().st_size if db.with_name(db.name + "-wal").exists() else 0
        )
        print(f"built {args.records:,} records in {built:.1f} s ({size / 1e6:.0f} MB)")
        auditor = Auditor(db=db)
        reviews = auditor.reviews
        began = time.perf_counter()
        with AuditStore.open(db, write=True) as store:
            indexed = refresh(store)
        print(f"review index built once: {indexed:,} records in {time.perf_counter() - began:.1f} s")
        token = reviews.accounts.issue_token(CLI, "rita")
        rita = reviews.session_user("rita")
        record_id = ids[len(ids) // 2]
        filters = {"use_case": "credit-decision", "review": "unreviewed", "q": "mortgage"}
        pages = [
            ("queue page", "/queue", lambda: reviews.queue(rita)),
            ("queue page 20", "/queue?page=20", lambda: reviews.queue(rita, None, 20)),
            (
                "list, 3 filters",
                "/records?use_case=credit-decision&review=unreviewed&q=mortgage",
                lambda: reviews.records(rita, record_filter(filters)),
            ),
            ("record page", f"/records/{record_id}", lambda: reviews.record(rita, record_id)),
        ]
        rows = []
        with BackgroundServer(create_app(reviews)) as server:
            client = httpx.Client(base_url=server.url, timeout=60, headers={"Authorization": f"Bearer {token}"})
            for name, path, direct in pages:
                assert client.get(path).status_code == 200, path  # warm
                over_http = timed(lambda path=path: client.get(path).raise_for_status(), args.requests)
                in_process = timed(direct, args.requests)
                rows.append((name, *percentiles(over_http), *percentiles(in_process)))
            unsigned: list[str] = []  # a sign-off names the state it was made on: unsigned records, "no review yet"
            for number in range(1, 1 + -(-args.requests // 50)):
                listed, _ = reviews.records(rita, RecordFilter(review_state="unreviewed"), number)
                unsigned += [row.record_id for row in listed.rows if row.record_id != record_id]
            targets = unsigned[: args.requests]
            alternate = iter(targets)
            over_http = timed(
                lambda: client.post(
                    f"/api/records/{next(alternate)}/reviews", json={"action": "accept"}
                ).raise_for_status(),
                len(targets) // 2,
            )
            in_process = timed(lambda: reviews.sign_off(rita, next(alternate), "accept"), len(targets) // 2)
            rows.append(("sign-off commit", *percentiles(over_http), *percentiles(in_process)))
            first = len(client.get(f"/records/{record_id}").content)
            whole = len(client.get(f"/records/{record_id}/dossier.html").content)
            soak = concurrent(server.url, token, ids, args)
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(
            f"\n{args.records:,} records, {args.requests} requests per page; load average {load} ({os.cpu_count()} CPUs)\n"
        )
        print(f"{'':18} {'HTTP p50':>9} {'HTTP p95':>9} {'direct p50':>11} {'direct p95':>11} {'ratio p50':>10}")
        for name, hp50, hp95, dp50, dp95 in rows:
            print(
                f"{name:18} {hp50 * 1000:7.1f}ms {hp95 * 1000:7.1f}ms {dp50 * 1000:9.1f}ms {dp95 * 1000:9.1f}ms {hp50 / dp50:9.2f}x"
            )
        print(
            f"\nrecord page, first response: {first:,} bytes; the whole dossier (HTML download): {whole:,} bytes "
            f"({first / whole:.2f}x); target < 150,000 bytes"
        )
        reads, writes, errors, p95 = soak
        print(
            f"{args.readers} readers and {args.writers} writers for {args.soak:.0f} s: {reads:,} reads "
            f"(p95 {p95 * 1000:.0f} ms), {writes:,} writes, {len(errors)} errors"
        )
        for error in errors[:10]:
            print("  error:", error)
        print("\ntargets: queue and list pages < 300 ms at p95, record page < 1 s (HTTP columns)")
        if errors:
            sys.exit(1)


if __name__ == "__main__":
    main()
