"""Benchmark: what the spend ledger costs per paid request as it grows.

Every paid request makes one reservation and one commit, and the client reads the
stage and ledger totals for its metrics. Before the running `totals` table each of
these summed the whole `spend` table, so a request cost O(rows): 0.23 ms at 1k rows,
13 ms at 57k (issue #16). Now they read O(stages) rows, whatever the size.

The ledger is pre-filled as an older version would have left it (spend rows only),
so opening it also times the one-off migration that builds the totals.

    python3 -m benchmarks.bench_ledger [--rows 1000 50000 --requests 2000]
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from medinstruct_core.llm.ledger import Ledger

OLD_SPEND = (
    "CREATE TABLE spend (id INTEGER PRIMARY KEY, time REAL NOT NULL, role TEXT NOT NULL, "
    "stage TEXT NOT NULL, model TEXT NOT NULL, prompt_tokens INTEGER NOT NULL, "
    "completion_tokens INTEGER NOT NULL, usd REAL NOT NULL, batch INTEGER NOT NULL)"
)
STAGES = ("generate_instructions", "generate_responses", "evaluate")


def prefill(path: Path, rows: int) -> None:
    """`rows` paid replies spread over three stages, in a ledger of the previous layout."""
    with sqlite3.connect(path) as conn:
        conn.execute(OLD_SPEND)
        conn.executemany(
            "INSERT INTO spend (time, role, stage, model, prompt_tokens, completion_tokens, "
            "usd, batch) VALUES (0, 'teacher', ?, 'gpt-4o-mini', 400, 600, 0.0004, 0)",
            ((STAGES[i % len(STAGES)],) for i in range(rows)),
        )
    conn.close()


def per_request_ms(ledger: Ledger, requests: int) -> float:
    """Reserve, commit, and the two spend reads a client makes, per request (ms)."""
    started = time.perf_counter()
    for _ in range(requests):
        held = ledger.reserve(0.001)
        ledger.commit(held, role="teacher", stage=STAGES[0], model="gpt-4o-mini",
                      prompt_tokens=400, completion_tokens=600, usd=0.0004)  # fmt: skip
        ledger.stage_usd(STAGES[0])
        ledger.total_usd()
    return (time.perf_counter() - started) / requests * 1e3


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[1000, 50_000])
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args(list(argv) if argv is not None else [])
    print(f"bench_ledger: {args.requests} paid requests on a ledger of N rows (budget set)")
    for rows in args.rows:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "ledger.sqlite"
            prefill(path, rows)
            started = time.perf_counter()
            ledger = Ledger(path, budget_usd=1e9)
            migrate_ms = (time.perf_counter() - started) * 1e3
            with ledger:
                cost = per_request_ms(ledger, args.requests)
            print(f"  N={rows:>6,}: {cost:.3f} ms per request (reserve + commit + 2 reads) | "
                  f"opening (migration) {migrate_ms:.0f} ms")  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1:])
