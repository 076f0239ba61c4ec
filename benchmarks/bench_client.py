"""Benchmark: does the LLM client keep `max_concurrency` requests in flight?

A fake OpenAI server (tests/fakes/fake_openai.py, in its own process so it does
not compete with the client for the GIL) answers every request after a fixed
latency L. With C requests in flight, N requests ideally take N*L/C seconds;
the ratio wall/ideal measures the client's own overhead (target <= 1.2).

    python3 -m benchmarks.bench_client [--requests 200 --concurrency 8 --latency 0.2]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from medinstruct_core.llm import ClientConfig, Endpoint, LLMClient, LLMRequest, Sampling

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


def measure(base_url: str, n: int, concurrency: int) -> tuple[float, LLMClient]:
    endpoint = Endpoint(base_url, "fake-model", "remote", "off", "sk-bench", cache_id="bench")
    client = LLMClient(endpoint, ClientConfig(max_concurrency=concurrency), role="bench")
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
    with fake_server(args.latency) as url:
        wall, client = measure(url, args.requests, args.concurrency)
    ideal = args.requests * args.latency / args.concurrency
    p50 = client.stats.as_metrics()["latency_p50_s"]
    print(f"bench_client: N={args.requests} C={args.concurrency} L={args.latency:.3f}s")
    print(
        f"  wall {wall:.2f} s | ideal N*L/C {ideal:.2f} s | ratio {wall / ideal:.3f} (target <= 1.2)"
    )
    print(
        f"  latency p50 {p50:.3f} s | overhead per request {(wall - ideal) / args.requests * 1e3:.2f} ms"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
