"""Throughput and added latency of ``llm-audit proxy`` against its upstream called directly, in one run.

Three kinds of process, as in production (each its own interpreter):

* a fast fake OpenAI-compatible upstream (raw asyncio HTTP/1.1, keep-alive): every chat completion is
  a canned ``--tokens``-token answer with top-5 log-probabilities and vLLM's ``token_ids``;
* ``llm-audit proxy`` in front of it (``python -m audit proxy``), recording to a fresh database;
* closed-loop clients (httpx, one process): each sends its next request as soon as the last answered.

Rows alternate direct and proxied at each concurrency (1 and ``--clients``), so a shared machine's
drift hits both. Printed: requests/s, p50 and p95 per row, the proxied/direct ratio of requests/s,
the proxy's CPU milliseconds per recorded request (utime + stime of the proxy's processes, children
included, from ``/proc``), records written against 200 responses received, ``verify``'s result
(pinned to the database's own key), bytes stored per output token, and the load average: the
figures mean something only on a quiet machine.

Run: python benchmarks/proxy_throughput.py [--seconds 10] [--clients 32] [--tokens 16] [--stream]
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


def _answer(tokens: int) -> tuple[dict, list[dict]]:
    """A canned chat completion and its stream chunks: ``tokens`` tokens, top-5 alternatives each."""
    words = [f" w{i}" for i in range(tokens)]
    content = [
        {
            "token": w,
            "logprob": _f32(-0.25 - i / 100),
            "bytes": list(w.encode()),
            "top_logprobs": [
                {"token": w if k == 0 else f" alt{k}", "logprob": _f32(-0.25 - i / 100 - k), "bytes": list(w.encode())}
                for k in range(TOP)
            ],
        }
        for i, w in enumerate(words)
    ]
    # ids: the chosen token's and each alternative's (vLLM returns them with return_token_ids / llama.cpp as "id")
    for i, entry in enumerate(content):
        entry["id"] = 1000 + i
        for k, alt in enumerate(entry["top_logprobs"]):
            alt["id"] = 1000 + i if k == 0 else 50 + k
    whole = {
        "id": "chatcmpl-0",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "fake-model",
        "system_fingerprint": "fp_fake0000000",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "".join(words)},
                "logprobs": {"content": content},
                "finish_reason": "length",
                "token_ids": [1000 + i for i in range(tokens)],
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
                {"index": 0, "delta": {"content": w}, "logprobs": {"content": [content[i]]}, "token_ids": [1000 + i]}
            ],
        }
        for i, w in enumerate(words)
    ]
    chunks[0]["prompt_token_ids"] = whole["prompt_token_ids"]
    chunks.append(
        {**base, "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}
    )
    return whole, chunks


def run_upstream(port: int, tokens: int) -> None:
    whole, chunks = _answer(tokens)
    body = json.dumps(whole).encode()
    events = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"
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
                elif b'"stream":true' in request.replace(b" ", b""):
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
def run_clients(url: str, key: str, clients: int, seconds: float, stream: bool) -> None:
    import httpx

    body = {
        "model": "fake-model",
        "messages": [{"role": "user", "content": "Is a debt-to-income ratio of 45% high?"}],
        "max_tokens": 16,
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


def stored_bytes(db: Path) -> tuple[int, int, int]:
    """(used pages' bytes of the database, bytes of the generation events' payloads, bytes of the token
    columns: output ids, log-probabilities and top-k alternatives, each held twice: row and event payload)."""
    with sqlite3.connect(str(db)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages, size, free = (
            conn.execute(f"PRAGMA {p}").fetchone()[0] for p in ("page_count", "page_size", "freelist_count")
        )
        payload = conn.execute(
            "SELECT COALESCE(SUM(LENGTH(payload)), 0) FROM events WHERE kind = 'generation'"
        ).fetchone()[0]
        try:
            columns = "LENGTH(output_ids) + LENGTH(token_logprobs) + LENGTH(top_logprobs)"
            tokens = conn.execute(f"SELECT COALESCE(SUM({columns}), 0) FROM generations").fetchone()[0]
        except sqlite3.OperationalError:
            tokens = 0
    return (pages - free) * size, int(payload), 2 * int(tokens)


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


def clients_run(url: str, key: str, clients: int, seconds: float, stream: bool) -> dict:
    command = [sys.executable, __file__, "--role", "clients", "--url", url, "--key", key]
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
    parser.add_argument("--role", choices=("main", "upstream", "clients"), default="main", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--url", default="", help=argparse.SUPPRESS)
    parser.add_argument("--key", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "upstream":
        return run_upstream(args.port, args.tokens)
    if args.role == "clients":
        return run_clients(args.url, args.key, args.clients, args.seconds, args.stream)

    tmp = Path(tempfile.mkdtemp(prefix="llm-audit-proxy-bench-"))
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp / "config"), "PYTHONPATH": str(ROOT)}
    os.environ.update(XDG_CONFIG_HOME=env["XDG_CONFIG_HOME"])
    db = tmp / "proxy.db"
    cli = [sys.executable, "-m", "audit"]
    key = subprocess.run(
        cli + ["keys", "add", "bench", "--db", str(db)], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    base_bytes = stored_bytes(db)[0]
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
            rows.append(row("upstream direct", clients, clients_run(up_url, key, clients, args.seconds, args.stream)))
            before_cpu, before_records = cpu_seconds(proxy.pid), records(db)
            result = clients_run(proxy_url, key, clients, args.seconds, args.stream)
            rows.append(row("through llm-audit proxy", clients, result))
            used, made = cpu_seconds(proxy.pid) - before_cpu, records(db) - before_records
            if clients == args.clients:
                cpu, written = used, made
            received += len(result["latencies"]) + result["warm"]  # the warm-up requests are recorded too
    finally:
        for process in (proxy, upstream):
            if process is not None:
                process.terminate()
                process.wait(timeout=60)

    from audit import Auditor

    auditor = Auditor(db=db)
    verified = auditor.verify(key=auditor.signing.write_public(tmp / "proxy.pub.pem"))
    total = records(db)
    db_bytes, payload_bytes, token_bytes = stored_bytes(db)
    tokens = max(1, total * args.tokens)

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
    print(
        f"bytes per output token: {(db_bytes - base_bytes) / tokens:.0f} in the database, "
        f"{payload_bytes / tokens:.0f} in the generation events' payloads, {token_bytes / tokens:.0f} in the token "
        "columns (ids, log-probabilities, top-5 alternatives with their texts; row and payload)"
    )


if __name__ == "__main__":
    main()
