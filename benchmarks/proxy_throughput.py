"""Throughput and added latency of ``llm-audit proxy`` against its upstream called directly, in one run.

Three kinds of process, as in production (each its own interpreter):

* a fast fake OpenAI-compatible upstream (raw asyncio HTTP/1.1, keep-alive): every chat completion is
  a ``--tokens``-token answer with top-5 log-probabilities and vLLM's ``token_ids``, drawn in advance
  from a seeded generator so that no two answers are the same bytes;
* ``llm-audit proxy`` in front of it (``python -m audit proxy``), recording to a fresh database;
* closed-loop clients (httpx, one process): each sends its next request as soon as the last answered.

Rows alternate direct and proxied at each concurrency (1 and ``--clients``), so a shared machine's
drift hits both. Printed: requests/s, p50 and p95 per row, the proxied/direct ratio of requests/s,
the proxy's CPU milliseconds per recorded request (utime + stime of the proxy's processes, children
included, from ``/proc``), records written against 200 responses received, ``verify``'s result
(pinned to the database's own key), and the load average: the figures mean something only on a
quiet machine. Then the storage phase: ``--long`` 256-token completions through the proxy, and the
bytes the database grew by per output token at both lengths, split into a per-record part and a
per-token part; and the same records stored again in records version 3 (before) and 4 (now).

Run: python benchmarks/proxy_throughput.py [--seconds 10] [--clients 32] [--tokens 16] [--long 200] [--stream]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sqlite3
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")
TOP = 5


# -- the fake upstream (its own process) ----------------------------------------------------------
def _f32(value: float) -> float:
    """A log-probability as an upstream computes it: a float32 (vLLM, llama.cpp), written as JSON."""
    return struct.unpack("<f", struct.pack("<f", value))[0]


_WORDS = [" the", " loan", " ratio", " debt", " income", " is", " high", " risk", " a", " of", " credit", " 45%"]


def _answer(tokens: int, variant: int) -> tuple[dict, list[dict]]:
    """One chat completion and its stream chunks: ``tokens`` tokens with top-5 alternatives each, its ids, texts and
    log-probabilities drawn from ``variant`` (a seeded generator), so no two answers are the same bytes: a canned
    answer would let content-addressed storage keep one copy for all and understate what real traffic costs."""
    import random

    rng = random.Random(variant)
    content, ids = [], []
    for _ in range(tokens):
        alternatives = []
        for k, token_id in enumerate(rng.sample(range(49152), TOP)):
            text = rng.choice(_WORDS) if rng.random() < 0.7 else f" w{token_id}"
            logprob = _f32(-rng.expovariate(2.0) - 1.5 * k)
            alternatives.append({"token": text, "logprob": logprob, "bytes": list(text.encode()), "id": token_id})
        chosen = alternatives[0]
        ids.append(chosen["id"])
        content.append({**chosen, "top_logprobs": alternatives})
    whole = {
        "id": f"chatcmpl-{variant}",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "fake-model",
        "system_fingerprint": "fp_fake0000000",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "".join(c["token"] for c in content)},
                "logprobs": {"content": content},
                "finish_reason": "length",
                "token_ids": ids,
            }
        ],
        "prompt_token_ids": [1, 2, 3, 4, 5, 6, 7, 8],
        "usage": {"prompt_tokens": 8, "completion_tokens": tokens, "total_tokens": 8 + tokens},
    }
    base = {k: whole[k] for k in ("id", "created", "model", "system_fingerprint")}
    chunks = [
        {
            **base,
            "object": "chat.completion.chunk",
            "choices": [
                {"index": 0, "delta": {"content": c["token"]}, "logprobs": {"content": [c]}, "token_ids": [ids[i]]}
            ],
        }
        for i, c in enumerate(content)
    ]
    chunks[0]["prompt_token_ids"] = whole["prompt_token_ids"]
    chunks.append(
        {**base, "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}
    )
    return whole, chunks


VARIANTS = 4096  # distinct answers of the benchmark's length, served in turn (more than a 10 s run records)
LONG, LONG_VARIANTS = 256, 400  # the storage phase's longer answers (asked for with max_tokens >= LONG)


def run_upstream(port: int, tokens: int) -> None:
    import re

    def encoded(length: int, variant: int) -> tuple[bytes, bytes]:
        whole, chunks = _answer(length, variant)
        events = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"
        return json.dumps(whole).encode(), events

    answers = {
        False: [encoded(tokens, v) for v in range(VARIANTS)],
        True: [encoded(LONG, 10**6 + v) for v in range(LONG_VARIANTS)],
    }
    served = {False: 0, True: 0}
    asked = re.compile(rb'"max_tokens":\s*(\d+)')
    models = json.dumps({"object": "list", "data": [{"id": "fake-model", "object": "model"}]}).encode()

    def response(payload: bytes, kind: bytes = b"application/json") -> bytes:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n" % (kind, len(payload))
        return head + payload

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                request = await reader.readexactly(length) if length else b""
                if head.startswith(b"GET"):
                    writer.write(response(models))
                else:
                    found = asked.search(request)
                    long = found is not None and int(found.group(1)) >= LONG
                    body, events = answers[long][served[long] % len(answers[long])]
                    served[long] += 1
                    if b'"stream":true' in request.replace(b" ", b""):
                        writer.write(response(events, b"text/event-stream"))
                    else:
                        writer.write(response(body))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# -- the closed-loop clients (their own process) ----------------------------------------------------
def run_clients(url: str, key: str, clients: int, seconds: float, stream: bool, tokens: int) -> None:
    import httpx

    body = {
        "model": "fake-model",
        "messages": [{"role": "user", "content": "Is a debt-to-income ratio of 45% high?"}],
        "max_tokens": tokens,
        "stream": stream,
    }
    headers = {"Authorization": f"Bearer {key}"}

    async def main() -> dict:
        latencies: list[float] = []
        failed: dict[str, int] = {}
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=120) as client:

            async def one() -> None:
                started = time.perf_counter()
                if stream:
                    async with client.stream("POST", "/chat/completions", json=body) as reply:
                        text = (await reply.aread()).decode()
                    ok = reply.status_code == 200 and text.rstrip().endswith("data: [DONE]")
                else:
                    reply = await client.post("/chat/completions", json=body)
                    ok = reply.status_code == 200
                if ok:
                    latencies.append(time.perf_counter() - started)
                else:
                    failed[str(reply.status_code)] = failed.get(str(reply.status_code), 0) + 1

            async def loop(until: float) -> None:
                while time.perf_counter() < until:
                    await one()

            await asyncio.gather(*(one() for _ in range(clients)))  # warm the connections; not timed
            warm, failed_warm = len(latencies), dict(failed)
            latencies.clear()
            started = time.perf_counter()
            await asyncio.gather(*(loop(started + seconds) for _ in range(clients)))
            wall = time.perf_counter() - started
            return {"latencies": latencies, "failed": failed, "warm": warm, "failed_warm": failed_warm, "wall": wall}

    print(json.dumps(asyncio.run(main())))


# -- orchestration ----------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_listening(port: int, process: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"a benchmark process exited early ({process.args})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on port {port} after {timeout:g} s")


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` and every live descendant, plus their reaped children's (``/proc``)."""
    total, parents = 0.0, {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = (int(fields[1]), sum(int(f) for f in fields[11:15]))
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, (ppid, _) in parents.items() if ppid == parent and p not in tree]
        tree.update(children)
        frontier += children
    for member in tree:
        total += parents.get(member, (0, 0))[1]
    return total / TICKS


def records(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        try:
            return int(conn.execute("SELECT COUNT(*) FROM generations").fetchone()[0])
        except sqlite3.OperationalError:
            return 0


def stored_bytes(db: Path) -> int:
    """The bytes of the database's used pages (the write-ahead log's included: read through SQLite)."""
    with sqlite3.connect(str(db)) as conn:
        pages, size, free = (
            conn.execute(f"PRAGMA {p}").fetchone()[0] for p in ("page_count", "page_size", "freelist_count")
        )
    return (pages - free) * size


def long_answers(url: str, key: str, count: int) -> int:
    """``count`` sequential :data:`LONG`-token completions through the proxy; how many were answered 200."""
    import httpx

    body = {"model": "fake-model", "messages": [{"role": "user", "content": "Explain."}], "max_tokens": LONG}
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=120) as client:
        return sum(client.post("/chat/completions", json=body).status_code == 200 for _ in range(count))


def as_versions(db: Path, folder: Path, samples: dict[int, int]) -> dict[tuple[int, int], tuple[int, int]]:
    """The same records stored again into fresh databases in records version 3 (before) and 4 (now), per answer
    length: {(version, tokens): (bytes the database grew by, output tokens)}; ``samples``: tokens -> how many records.
    Only what a record adds is counted, free of the live database's keys, timing of checkpoints and log."""
    from audit.store import AuditStore

    chosen: dict[int, list] = {}
    with AuditStore.open(db) as store:
        for record in store.records.iter():
            group = chosen.setdefault(record.output_tokens, [])
            if len(group) < samples.get(record.output_tokens, 0):
                group.append(record)
    found = {}
    for version in (3, 4):
        for tokens, records in chosen.items():
            target = folder / f"records-v{version}-{tokens}.db"
            with AuditStore.open(target, write=True) as store:
                empty = stored_bytes(target)
                with store.transaction():
                    for record in records:
                        record.schema_version = version
                        store.records.append(record)
            found[version, tokens] = (stored_bytes(target) - empty, sum(r.output_tokens for r in records))
    return found


def fsync_ms(folder: Path, times: int = 20) -> float:
    """The median time of one small write and fsync in ``folder``: the floor of a committed request's latency
    (the database is opened with ``synchronous=FULL``, so each commit waits for one)."""
    spent = []
    with open(folder / "fsync-probe", "wb") as handle:
        for _ in range(times):
            started = time.perf_counter()
            handle.write(b"x" * 4096)
            handle.flush()
            os.fsync(handle.fileno())
            spent.append(time.perf_counter() - started)
    (folder / "fsync-probe").unlink()
    return 1000 * statistics.median(spent)


def clients_run(url: str, key: str, clients: int, seconds: float, stream: bool, tokens: int) -> dict:
    command = [sys.executable, __file__, "--role", "clients", "--url", url, "--key", key, "--tokens", str(tokens)]
    command += ["--clients", str(clients), "--seconds", str(seconds)] + (["--stream"] if stream else [])
    out = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def row(name: str, clients: int, result: dict) -> dict:
    latencies = sorted(result["latencies"])
    n = len(latencies)
    p95 = latencies[min(n - 1, round(0.95 * (n - 1)))] if n else float("nan")
    return {
        "path": name,
        "clients": clients,
        "n": n,
        "per_s": n / result["wall"],
        "p50": statistics.median(latencies) if n else float("nan"),
        "p95": p95,
        "failed": result["failed"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each row's closed loop")
    parser.add_argument("--clients", type=int, default=32, help="the concurrent row's clients (the other has 1)")
    parser.add_argument("--tokens", type=int, default=16, help="output tokens of the canned answer")
    parser.add_argument("--stream", action="store_true", help="stream every completion (SSE)")
    parser.add_argument("--long", type=int, default=200, help=f"{LONG}-token completions of the storage phase")
    parser.add_argument("--role", choices=("main", "upstream", "clients"), default="main", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--url", default="", help=argparse.SUPPRESS)
    parser.add_argument("--key", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "upstream":
        return run_upstream(args.port, args.tokens)
    if args.role == "clients":
        return run_clients(args.url, args.key, args.clients, args.seconds, args.stream, args.tokens)

    tmp = Path(tempfile.mkdtemp(prefix="llm-audit-proxy-bench-"))
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp / "config"), "PYTHONPATH": str(ROOT)}
    os.environ.update(XDG_CONFIG_HOME=env["XDG_CONFIG_HOME"])
    db = tmp / "proxy.db"
    cli = [sys.executable, "-m", "audit"]
    key = subprocess.run(
        cli + ["keys", "add", "bench", "--db", str(db)], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    base_bytes = stored_bytes(db)
    up_port, proxy_port = free_port(), free_port()
    upstream = subprocess.Popen(
        [sys.executable, __file__, "--role", "upstream", "--port", str(up_port), "--tokens", str(args.tokens)]
    )
    proxy = None
    try:
        wait_listening(up_port, upstream)
        up_url = f"http://127.0.0.1:{up_port}/v1"
        proxy_cmd = cli + [
            "proxy",
            "--upstream",
            up_url,
            "--db",
            str(db),
            "--port",
            str(proxy_port),
            "--queue-size",
            "1024",
        ]
        proxy = subprocess.Popen(proxy_cmd, env=env, cwd=ROOT, stderr=subprocess.DEVNULL)
        wait_listening(proxy_port, proxy)
        proxy_url = f"http://127.0.0.1:{proxy_port}/v1"
        rows, cpu, written, received = [], 0.0, 0, 0
        for clients in (1, args.clients):
            rows.append(
                row(
                    "upstream direct",
                    clients,
                    clients_run(up_url, key, clients, args.seconds, args.stream, args.tokens),
                )
            )
            before_cpu, before_records = cpu_seconds(proxy.pid), records(db)
            result = clients_run(proxy_url, key, clients, args.seconds, args.stream, args.tokens)
            rows.append(row("through llm-audit proxy", clients, result))
            used, made = cpu_seconds(proxy.pid) - before_cpu, records(db) - before_records
            if clients == args.clients:
                cpu, written = used, made
            received += len(result["latencies"]) + result["warm"]  # the warm-up requests are recorded too
        short_records, short_bytes = records(db), stored_bytes(db) - base_bytes
        answered = long_answers(proxy_url, key, args.long)
        received += answered
        long_bytes = stored_bytes(db) - base_bytes - short_bytes
    finally:
        for process in (proxy, upstream):
            if process is not None:
                process.terminate()
                process.wait(timeout=60)

    from audit import Auditor

    auditor = Auditor(db=db)
    verified = auditor.verify(key=auditor.signing.write_public(tmp / "proxy.pub.pem"))
    total = records(db)
    versions = as_versions(db, tmp, {args.tokens: 1000, LONG: args.long})

    print(
        f"\n{args.tokens}-token chat completions (top-{TOP} logprobs){', streamed' if args.stream else ''}, "
        f"{args.seconds:g} s per row, load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}, {os.cpu_count()} CPUs\n"
    )
    print(f"{'path':<25} {'clients':>7} {'n':>6} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8}  failed")
    for r in rows:
        print(
            f"{r['path']:<25} {r['clients']:>7} {r['n']:>6} {r['per_s']:>8.1f} {r['p50'] * 1000:>8.1f} {r['p95'] * 1000:>8.1f}  {r['failed'] or '-'}"
        )
    for i in (0, 2):
        direct, proxied = rows[i], rows[i + 1]
        print(
            f"{direct['clients']:>3} client(s): proxy/direct requests/s {proxied['per_s'] / direct['per_s']:.2f}x, "
            f"p50 added {(proxied['p50'] - direct['p50']) * 1000:.1f} ms"
        )
    print(
        f"proxy CPU per recorded request at {args.clients} clients: {1000 * cpu / max(1, written):.2f} ms ({written} records)"
    )
    print(
        f"records written {total}, 200 responses received {received}: {'equal' if total == received else 'DIFFERENT'}"
    )
    print(f"verify: {verified.summary()}")
    print(f"one write + fsync in the database's folder: {fsync_ms(tmp):.1f} ms (p50; each commit waits for one)")
    short = short_bytes / max(1, short_records)
    long = long_bytes / max(1, answered)
    print(
        f"bytes the live database grew by per output token: {short / args.tokens:.0f} at {args.tokens} tokens "
        f"({short_records} records), {long / LONG:.0f} at {LONG} tokens ({answered} records), everything counted"
    )
    print("the same records stored again into fresh databases (bytes per output token; per record + per token):")
    for version, name in ((3, "version 3 (before)"), (4, "version 4 (now)")):
        (a, n_a), (b, n_b) = versions[version, args.tokens], versions[version, LONG]
        records_a, records_b = n_a / args.tokens, n_b / LONG
        per_a, per_b = a / max(1, records_a), b / max(1, records_b)
        slope = (per_b - per_a) / (LONG - args.tokens)
        print(
            f"  {name:<19} {a / max(1, n_a):>5.0f} at {args.tokens} tokens, {b / max(1, n_b):>4.0f} at {LONG}: "
            f"{per_a - slope * args.tokens:,.0f} B + {slope:.1f} B per output token"
        )


if __name__ == "__main__":
    main()
