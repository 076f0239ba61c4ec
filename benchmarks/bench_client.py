"""Benchmark: does the LLM client keep `max_concurrency` requests in flight?

A fake OpenAI server (tests/fakes/fake_openai.py, in its own process so it does
not compete with the client for the GIL) answers every request after a fixed
latency L. With C requests in flight, N requests ideally take N*L/C seconds;
the ratio wall/ideal measures the client's own overhead (target <= 1.05 with the
ledger on). Its floor is 1 + (C-1)/N, not 1: the first request goes alone (the
client probes an unproven endpoint with one request before it sends C).

It runs unpriced (no budget bookkeeping) and priced with a budget and the sqlite
spend ledger (a reservation and a commit per request), interleaved `--repeats`
times after a warm-up, and prints each run and the medians: on a shared box one
run's wall time says little. The time spent inside ledger calls is measured
directly, so the ledger's own cost per request shows even when the box is noisy.
`--ledger-rows` pre-fills the ledger (a long project's ledger holds 50k+ rows).

    python3 -m benchmarks.bench_client [--requests 200 --concurrency 8 --latency 0.2]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.bench_ledger import prefill
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


class TimedLedger(Ledger):
    """The sqlite ledger, adding up the seconds its calls take (on the client's loop)."""

    seconds = 0.0

    def _timed(self, name: str, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return getattr(super(), name)(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - started

    def reserve(self, usd: float) -> Any:
        return self._timed("reserve", usd)

    def commit(self, reservation: Any, **row: Any) -> None:
        self._timed("commit", reservation, **row)

    def release(self, reservation: Any) -> None:
        self._timed("release", reservation)

    def total_usd(self) -> float:
        return float(self._timed("total_usd"))

    def stage_usd(self, stage: str) -> float:
        return float(self._timed("stage_usd", stage))


def measure(
    base_url: str, n: int, concurrency: int, ledger: Ledger | None = None
) -> tuple[float, LLMClient]:
    endpoint = Endpoint(base_url, "fake-model", "remote", "off", "sk-bench", cache_id="bench")
    prices = {"fake-model": Price(input=0.15, output=0.6)} if ledger is not None else {}
    config = ClientConfig(max_concurrency=concurrency, prices=prices, budget_usd=1e6)
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


def one_run(url: str, args: argparse.Namespace, label: str, tmp: Path, rep: int) -> float:
    """One measured run; prints it and returns wall/ideal."""
    ideal = args.requests * args.latency / args.concurrency
    ledger = None
    if label == "ledger":
        path = tmp / f"ledger-{rep}.sqlite"
        if args.ledger_rows:
            prefill(path, args.ledger_rows)
        ledger = TimedLedger(path, 1e6)
    wall, client = measure(url, args.requests, args.concurrency, ledger)
    p50 = client.stats.as_metrics()["latency_p50_s"]
    inside = f" | in ledger calls {ledger.seconds / args.requests * 1e3:.3f} ms" if ledger else ""
    if ledger is not None:
        ledger.close()
    print(f"  [{label}] wall {wall:.2f} s | ratio {wall / ideal:.3f} | latency p50 {p50:.3f} s | "
          f"overhead per request {(wall - ideal) / args.requests * 1e3:.2f} ms{inside}")  # fmt: skip
    return wall / ideal


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency", type=float, default=0.2, help="injected seconds per request")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ledger-rows", type=int, default=0, help="pre-filled ledger rows")
    args = parser.parse_args(list(argv) if argv is not None else [])
    ideal = args.requests * args.latency / args.concurrency
    floor = 1 + (args.concurrency - 1) / args.requests
    print(f"bench_client: N={args.requests} C={args.concurrency} L={args.latency:.3f}s, ideal "
          f"N*L/C {ideal:.2f} s (ratio floor {floor:.3f}: the probe), ledger rows "
          f"{args.ledger_rows}, {args.repeats} repeats")  # fmt: skip
    ratios: dict[str, list[float]] = {"unpriced": [], "ledger": []}
    with fake_server(args.latency) as url, tempfile.TemporaryDirectory() as tmp:
        measure(url, 2 * args.concurrency, args.concurrency)  # warm-up: imports, connections
        for rep in range(args.repeats):
            for label, found in ratios.items():
                found.append(one_run(url, args, label, Path(tmp), rep))
    for label, found in ratios.items():
        print(f"  median [{label}] wall/ideal {statistics.median(found):.3f} (target <= 1.05)")


if __name__ == "__main__":
    main(sys.argv[1:])
