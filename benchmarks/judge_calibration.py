"""The embedded judge on the first N calibration pairs, both orders, from a cold cache.

    python benchmarks/judge_calibration.py [N]      (default 12; ~25 s per verdict here)

Prints seconds per verdict, calibration accuracy per order and position-1 rate, and
each verdict: what sizing the default profile's evaluation rests on.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import yaml

from medinstruct_core.llm.config import LLMSection
from medinstruct_core.llm.roles import open_judges
from medinstruct_eval.calibration import calibration_metrics, judge_calibration, load_calibration

ROOT = Path(__file__).resolve().parents[1]


def main(count: int) -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    with tempfile.TemporaryDirectory(prefix="judge-bench-") as scratch:
        llm = params["llm"]
        llm["client"]["cache_dir"] = str(Path(scratch) / "cache")  # cold: every verdict is paid
        section = LLMSection.model_validate(llm).seeded(params["seed"])
        pairs = load_calibration(ROOT / "data" / "eval" / "calibration.jsonl")[:count]
        with open_judges(section, root=Path(scratch), stage="bench") as (judges, sampling):
            start = time.perf_counter()
            verdicts = judge_calibration(judges, pairs, sampling)
            seconds = time.perf_counter() - start
    print(f"{len(verdicts)} verdicts in {seconds:.1f} s = {seconds / len(verdicts):.1f} s each")
    for result in calibration_metrics(verdicts).values():
        print(result)
    for verdict in verdicts:
        print(verdict.item_id, verdict.order, verdict.winner, (verdict.reason or "")[:100])


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 12)
