"""Benchmark: a 5,000-task teacher run in Batch API mode, planned vs one batch per round.

Against the fake files/batches server (tests/fakes/fake_batch.py, real HTTP) with a
scripted teacher (tests/fakes/fake_teacher.py: 12 tasks a reply, rule rejects and
duplicates that grow as the pool fills), at the paper's 64 requests per round.

Each batch finishes on its second poll, and the runner polls every 30 s, as
`llm.teacher.batch_poll_s` does by default. The 30 s are SIMULATED: the runner's
`sleep` adds to a clock instead of sleeping, so the benchmark takes seconds;
"wait" below is that clock, "compute" the real time the client, the HTTP and the
filters took. A real batch takes minutes to 24 h instead of 30 s, so what counts is
the number of batches waited for one after another (planned: 2-3, sequential: one
per round, 82 at 52k tasks).

    python3 -m benchmarks.bench_teacher_batch [--tasks 5000 --poll 30]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from medinstruct_core.llm import ClientConfig, LLMClient, ResponseCache
from medinstruct_core.llm.batch import BatchRunner
from medinstruct_core.llm.config import Price
from medinstruct_core.records import Task
from medinstruct_datagen.config import GenerateInstructionsConfig
from medinstruct_datagen.instructions import generate_instructions
from tests.fakes.fake_batch import FakeBatchAPI
from tests.fakes.fake_teacher import teacher_responder

SEEDS = [
    Task(type="QA", topic="Cardiology", view="Patient", difficulty=1,
         instruction="What is a normal resting heart rate for adults?"),
    Task(type="Summary", topic="Oncology", view="Physician", difficulty=4,
         instruction="Summarize the staging of this breast tumour.", input="T2 N1 M0."),
    Task(type="Rewrite", topic="Pediatrics", view="Parent", difficulty=2,
         instruction="Explain croup to worried parents in plain words."),
    Task(type="Extraction", topic="Nephrology", view="Nurse", difficulty=3,
         instruction="List the electrolytes that are out of range.", input="Na 128, K 6.1."),
]  # fmt: skip


class PollClock:
    """The runner's `sleep`: adds up the seconds it was asked to wait, waits none."""

    def __init__(self) -> None:
        self.waited_s = 0.0

    def sleep(self, seconds: float) -> None:
        self.waited_s += seconds


def run(tasks: int, poll_s: float, plan: bool, tmp: Path) -> dict[str, float]:
    """One teacher run on a fresh fake account and cache; its batch counts and times."""
    cfg = GenerateInstructionsConfig(num_tasks=tasks, tasks_per_request=12,
                                     requests_per_round=64, max_requests=10 * tasks,
                                     batch_plan=plan)  # fmt: skip
    clock = PollClock()
    prices = {"fake-model": Price(input=0.15, output=0.6)}
    with (
        FakeBatchAPI(usage=(400, 600), responder=teacher_responder) as fake,
        ResponseCache(tmp / f"plan-{plan}" / "responses.sqlite") as cache,
    ):
        client = LLMClient(fake.endpoint(response_mode="json_schema"), ClientConfig(prices=prices),
                           cache=cache, role="teacher", stage="bench")  # fmt: skip
        client.run = BatchRunner(client, poll_s=poll_s, sleep=clock.sleep).run  # type: ignore[method-assign]
        started = time.perf_counter()
        result = generate_instructions(SEEDS, client, cfg, rng_seed=42, progress=False)
        compute = time.perf_counter() - started
        lines = [len(ids) for ids in fake.submitted_ids()]
    return {"kept": len(result.tasks), "batches": len(lines), "lines": sum(lines),
            "largest": max(lines), "unused": result.metrics()["unused_replies"],
            "rounds": result.rounds, "compute_s": compute, "wait_s": clock.waited_s}  # fmt: skip


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--poll", type=float, default=30.0, help="simulated poll interval, s")
    args = parser.parse_args(list(argv) if argv is not None else [])
    print(f"bench_teacher_batch: {args.tasks:,} tasks, 12 per request, 64 requests per round, "
          f"poll every {args.poll:.0f} s (simulated clock)")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for plan in (True, False):
            m = run(args.tasks, args.poll, plan, Path(tmp))
            mode = "planned   " if plan else "sequential"
            print(f"  [{mode}] kept {m['kept']:,.0f} | batches {m['batches']:.0f} | lines "
                  f"{m['lines']:,.0f} (largest batch {m['largest']:,.0f}, unused {m['unused']:,.0f})"
                  f" | rounds filtered {m['rounds']:.0f} | wall {m['compute_s'] + m['wait_s']:.1f}"
                  f" s = compute {m['compute_s']:.1f} s + poll wait {m['wait_s']:.0f} s")  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1:])
