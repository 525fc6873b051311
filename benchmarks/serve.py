"""Latency and throughput of recorded serving against its references, in one process, on one model.

Paths, each making ``--tokens``-token chat completions (greedy) of the same prompts:

* ``bare generate``: ``model.generate`` alone (no recording): the reference for recording's cost;
* ``Auditor.generate``: generation, record assembly and the committed, hash-chained append;
* ``server``: ``llm-audit serve`` on a loopback port, called with the openai client (1 and 4 clients);
* ``proxy -> server``: ``llm-audit proxy`` in front of that server, against calling the server directly.

Paths take turns request by request, so every path sees the same drift of a shared machine.
Ratios: server p50 / Auditor.generate p50 (target <= 1.05), proxy p50 / server p50 at the same
concurrency (target <= 1.05), Auditor.generate p50 / bare p50 (recording's cost, target <= 1.03).
The load average is printed: the figures are only meaningful on a quiet machine.

Run: python benchmarks/serve.py [--quick] [--tokens 32] [--requests 20] [--model FOLDER]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audit import Auditor  # noqa: E402
from audit.model import load_model  # noqa: E402
from audit.prompts import build_prompt  # noqa: E402
from audit.serve import proxy_app, server_app  # noqa: E402
from audit.web.background import BackgroundServer  # noqa: E402

QUESTIONS = [
    "Explain in plain words what a debt-to-income ratio says about a loan applicant.",
    "What should a bank check before approving a small business loan?",
    "Describe the risks of a variable-rate mortgage for a first-time buyer.",
    "Why do lenders ask for proof of income, and what counts as proof?",
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(name: str, clients: int, latencies: list[float], wall: float, tokens: list[int]) -> dict:
    return {
        "path": name,
        "clients": clients,
        "n": len(latencies),
        "p50": statistics.median(latencies),
        "p95": percentile(latencies, 0.95),
        "per_s": len(latencies) / wall,
        "tokens": statistics.mean(tokens),
    }


def question(i: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]}]


def bare_call(loaded, i: int, tokens: int) -> int:
    ids = torch.tensor([build_prompt(loaded.tokenizer, messages=question(i)).input_ids])
    with torch.no_grad():
        out = loaded.model.generate(
            input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=tokens, do_sample=False
        )
    return out.shape[1] - ids.shape[1]


def audited_call(auditor: Auditor, i: int, tokens: int) -> int:
    return auditor.generate(messages=question(i), max_new_tokens=tokens, temperature=0).output_tokens


def http_calls(url: str, key: str, model: str, indices: list[int], tokens: int, clients: int):
    """``indices`` as chat completions from ``clients`` concurrent clients: (latencies, token counts, wall seconds)."""
    import openai

    async def run():
        client = openai.AsyncOpenAI(base_url=url, api_key=key, max_retries=0, timeout=600)
        latencies, counts, queue = [], [], list(indices)

        async def one_client() -> None:
            while queue:
                i = queue.pop()
                began = time.perf_counter()
                reply = await client.chat.completions.create(
                    model=model, messages=question(i), max_tokens=tokens, temperature=0
                )
                latencies.append(time.perf_counter() - began)
                counts.append(reply.usage.completion_tokens)

        start = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(clients)))
        wall = time.perf_counter() - start
        await client.close()
        return latencies, counts, wall

    return asyncio.run(run())


class Timings:
    """Latencies of one path, collected over interleaved rounds (a shared machine drifts: every path
    sees the same drift when the paths take turns)."""

    def __init__(self, name: str, clients: int) -> None:
        self.name, self.clients = name, clients
        self.latencies: list[float] = []
        self.tokens: list[int] = []
        self.wall = 0.0

    def timed(self, call) -> None:
        began = time.perf_counter()
        self.tokens.append(call())
        self.latencies.append(time.perf_counter() - began)
        self.wall += self.latencies[-1]

    def add(self, latencies: list[float], tokens: list[int], wall: float) -> None:
        self.latencies += latencies
        self.tokens += tokens
        self.wall += wall

    def row(self) -> dict:
        return summary(self.name, self.clients, self.latencies, self.wall, self.tokens)


def _verified(auditor: Auditor) -> bool:
    """The database verifies against its own signing key, pinned explicitly (the user's trust file, which
    lists the keys of the databases they trust, would rightly call a throwaway benchmark log untrusted)."""
    public = auditor.signing.write_public(auditor.db_path.with_name(auditor.db_path.name + ".pub.pem"))
    result = auditor.verify(key=public)
    if not result.ok:
        print(f"{auditor.db_path.name}: {result.summary()}", file=sys.stderr)
    return result.ok


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="4 requests per path: shows that it works, not figures")
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--requests", type=int, default=20, help="completions per path and concurrency")
    parser.add_argument("--model", default=None, help="model folder [the default model]")
    args = parser.parse_args()
    requests = 4 if args.quick else args.requests
    loaded = load_model(args.model, device="cpu")
    name = loaded.identity.name
    with tempfile.TemporaryDirectory() as tmp:
        auditor = Auditor(db=Path(tmp) / "direct.db", model=loaded)
        upstream = Auditor(db=Path(tmp) / "served.db", model=loaded)
        upstream_key = upstream.api_keys.add("bench")
        proxied = Auditor(db=Path(tmp) / "proxied.db")
        proxy_key = proxied.api_keys.add("bench")
        paths = {
            (name, clients): Timings(name, clients)
            for name, clients in [("bare generate", 1), ("Auditor.generate", 1), ("server", 1), ("proxy -> server", 1),
                                  ("server", 4), ("proxy -> server", 4)]
        }  # fmt: skip
        with BackgroundServer(server_app(upstream)) as server:
            with BackgroundServer(proxy_app(proxied, server.url + "/v1", upstream_key=upstream_key)) as proxy:
                urls = {"server": (server.url + "/v1", upstream_key), "proxy -> server": (proxy.url + "/v1", proxy_key)}
                audited_call(auditor, 0, args.tokens)  # warm-up: first-call allocations, hashing caches
                http_calls(*urls["proxy -> server"], name, [0], args.tokens, 1)
                for i in range(requests):  # one client: the paths take turns, one request each
                    paths[("bare generate", 1)].timed(lambda i=i: bare_call(loaded, i, args.tokens))
                    paths[("Auditor.generate", 1)].timed(lambda i=i: audited_call(auditor, i, args.tokens))
                    for path in ("server", "proxy -> server"):
                        paths[(path, 1)].add(*http_calls(*urls[path], name, [i], args.tokens, 1))
                for start in range(0, requests, 4):  # four clients: four requests per turn
                    batch = list(range(start, min(start + 4, requests)))
                    for path in ("server", "proxy -> server"):
                        paths[(path, 4)].add(*http_calls(*urls[path], name, batch, args.tokens, 4))
        ok = all(_verified(a) for a in (upstream, proxied, auditor))
    rows = [path.row() for path in paths.values()]

    by = {(r["path"], r["clients"]): r for r in rows}
    references = {
        "bare generate": None,
        "Auditor.generate": "bare generate",
        "server": "Auditor.generate",
        "proxy -> server": "server",
    }
    print(
        f"model {name}, {args.tokens}-token greedy chat completions, {requests} per row, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print(f"every database verifies: {ok}\n")
    print(f"{'path':18} {'clients':>7} {'n':>3} {'tokens':>6} {'p50 s':>7} {'p95 s':>7} {'compl/s':>8}  p50 ratio vs")
    for row in rows:
        ref_name = references[row["path"]]
        clients = row["clients"] if row["path"] == "proxy -> server" else 1
        ref = by.get((ref_name, clients)) if ref_name and not (row["path"] == "server" and row["clients"] > 1) else None
        ratio = f"{row['p50'] / ref['p50']:.3f} x {ref_name} ({ref['clients']} client)" if ref else "-"
        print(
            f"{row['path']:18} {row['clients']:>7} {row['n']:>3} {row['tokens']:>6.1f} {row['p50']:>7.3f} "
            f"{row['p95']:>7.3f} {row['per_s']:>8.2f}  {ratio}"
        )
    print(
        "\ntargets: server <= 1.05 x Auditor.generate; proxy <= 1.05 x server; Auditor.generate <= 1.03 x bare generate"
    )


if __name__ == "__main__":
    main()
