"""Benchmark: the quality gate at growing sizes, with and without the fixed-size sample.

Run with `python3 -m benchmarks.bench_gate` (sizes 1,000 and 10,000; add
`--sizes 1000 10000 52000` for the paper's size, a few minutes on 2 cores).

For each size it builds two seeded synthetic sets (`medinstruct_gate.synthetic`):
`varied` (many composed templates, ROUGE-L deduplicated like curate output)
and `collapsed` (four slot templates), and runs the whole gate (`run_gate`,
Great Expectations included) twice on each:

* `all rows`: `sample_size` = n, i.e. distinct-2 and the spaCy verb-object
  parse over every row, as the gate worked before the sample;
* `sampled`: the configured `sample_size` (default 1,000 rows).

It prints the verdict, the failed checks, distinct-2 (all rows and sampled),
the mean pairwise ROUGE-L, the verb-object pair count and the CPU seconds of
`run_gate` (GX and spaCy already imported; `time.process_time`, which the
other jobs on a shared machine disturb far less than wall time).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from medinstruct_gate.config import GateConfig
from medinstruct_gate.diversity import distinct_n
from medinstruct_gate.synthetic import collapsed_tasks, varied_tasks

if TYPE_CHECKING:  # Great Expectations and spaCy take seconds to import; main() loads them.
    from great_expectations.data_context import AbstractDataContext
    from spacy.language import Language

    from medinstruct_gate.gate import GateResult

SETS: dict[str, Callable[[int, int], list[dict[str, object]]]] = {
    "varied": varied_tasks,
    "collapsed": collapsed_tasks,
}


@dataclass(frozen=True)
class Run:
    mode: str
    passed: bool
    failed: tuple[str, ...]
    metrics: dict[str, float]
    cpu_s: float
    wall_s: float


def failed_checks(result: GateResult) -> tuple[str, ...]:
    """The short check names of every failed expectation (meta "check")."""
    names = []
    for suite in result.suites.values():
        if suite.raw is None:
            continue
        for evr in suite.raw.results:
            if not evr.success:
                names.append(str((evr.expectation_config.meta or {}).get("check", "?")))
    return tuple(sorted(names))


def timed_gate(
    frame: pd.DataFrame, cfg: GateConfig, nlp: Language, context: AbstractDataContext, mode: str
) -> Run:
    """One run_gate call, timed in CPU and wall seconds."""
    from medinstruct_gate.gate import run_gate

    cpu, wall = time.process_time(), time.perf_counter()
    result = run_gate(frame, cfg, nlp=nlp, context=context)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return Run(mode, result.success, failed_checks(result), result.metrics, cpu, wall)


def configs(n: int, base: GateConfig) -> dict[str, GateConfig]:
    """The gate as it was (every row parsed and counted) and with the fixed-size sample."""
    every_row = base.diversity.model_copy(update={"sample_size": max(n, 2)})
    return {"all rows": base.model_copy(update={"diversity": every_row}), "sampled": base}


def report(name: str, n: int, frame: pd.DataFrame, runs: Sequence[Run]) -> None:
    d2_all = distinct_n([str(t) for t in frame["instruction"]], 2)
    print(f"  {name:<9} n={n:<6} distinct-2 over all rows {d2_all:.3f}")
    for run in runs:
        m = run.metrics
        verdict = "PASS" if run.passed else "FAIL " + ",".join(run.failed)
        print(f"    {run.mode:<8} distinct_2 {m['distinct_2']:.3f}  mean_rouge "
              f"{m['mean_pairwise_rouge_l']:.3f}  vo_pairs {m['verb_object_pairs']:.0f} "
              f"(on {m['sample_rows']:.0f} rows)  cpu {run.cpu_s:6.1f} s  wall {run.wall_s:6.1f} s"
              f"  {verdict}")  # fmt: skip


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sets", nargs="+", choices=sorted(SETS), default=list(SETS))
    args = parser.parse_args(argv)
    from medinstruct_gate.gate import make_context
    from medinstruct_gate.verbs import load_spacy

    base = GateConfig()
    nlp, context = load_spacy(base.diversity.spacy_model), make_context()
    print(f"bench_gate: default thresholds, sample_size {base.diversity.sample_size}, "
          f"min_distinct_2 {base.diversity.min_distinct_2}")  # fmt: skip
    for n in args.sizes:
        for name in args.sets:
            started = time.perf_counter()
            frame = pd.DataFrame(SETS[name](n, args.seed))
            print(f"  ({name} set of {n} built in {time.perf_counter() - started:.1f} s)")
            runs = [
                timed_gate(frame, cfg, nlp, context, mode) for mode, cfg in configs(n, base).items()
            ]
            report(name, n, frame, runs)


if __name__ == "__main__":
    main()
