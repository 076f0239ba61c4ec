"""Benchmark: does the LLM client keep `max_concurrency` requests in flight?

A fake OpenAI server (tests/fakes/fake_openai.py, in its own process so it does
not compete with the client for the GIL) answers every request after a fixed
latency L. With C requests in flight, N requests ideally take N*L/C seconds;
the ratio wall/ideal measures the client's own overhead (target <= 1.2).

It runs twice: unpriced (no budget bookkeeping), then priced with a budget and
the sqlite spend ledger (a reservation and a commit per request), so the
ledger's cost per request shows as the difference.

    python3 -m benchmarks.bench_client [--requests 200 --concurrency 8 --latency 0.2]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from medinstruct_core.llm import ClientConfig, Endpoint, Ledger, LLMClient, LLMRequest, Sampling
from medinstruct_core.llm.config import Price

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def fake_server(latency_s: float) -> Iterator[str]:
    """Start the fake in a child process; yield its base URL."""
    cmd = [sys.executable, "-m", "tests.fakes.fake_openai", "--latency", str(latency_s)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def measure(
    base_url: str, n: int, concurrency: int, ledger: Ledger | None = None
) -> tuple[float, LLMClient]:
    endpoint = Endpoint(base_url, "fake-model", "remote", "off", "sk-bench", cache_id="bench")
    prices = {"fake-model": Price(input=0.15, output=0.6)} if ledger is not None else {}
    config = ClientConfig(max_concurrency=concurrency, prices=prices, budget_usd=1.0)
    client = LLMClient(endpoint, config, role="bench", stage="bench", ledger=ledger)
    requests = [
        LLMRequest(
            ({"role": "user", "content": f"question {i}"},), Sampling(max_tokens=16), key=str(i)
        )
        for i in range(n)
    ]
    started = time.perf_counter()
    results = client.run(requests, progress=False)
    wall = time.perf_counter() - started
    failed = sum(not r.ok for r in results)
    if failed:
        raise RuntimeError(f"{failed} of {n} benchmark requests failed")
    return wall, client


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency", type=float, default=0.2, help="injected seconds per request")
    args = parser.parse_args(list(argv) if argv is not None else [])
    ideal = args.requests * args.latency / args.concurrency
    print(f"bench_client: N={args.requests} C={args.concurrency} L={args.latency:.3f}s")
    with fake_server(args.latency) as url, tempfile.TemporaryDirectory() as tmp:
        for label in ("unpriced", "ledger"):
            ledger = Ledger(Path(tmp) / "ledger.sqlite", 1.0) if label == "ledger" else None
            wall, client = measure(url, args.requests, args.concurrency, ledger)
            p50 = client.stats.as_metrics()["latency_p50_s"]
            overhead_ms = (wall - ideal) / args.requests * 1e3
            print(f"  [{label}] wall {wall:.2f} s | ideal N*L/C {ideal:.2f} s | ratio "
                  f"{wall / ideal:.3f} (target <= 1.2) | latency p50 {p50:.3f} s | "
                  f"overhead per request {overhead_ms:.2f} ms")  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1:])
