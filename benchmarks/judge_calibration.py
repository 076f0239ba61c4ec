"""The embedded judge on the first N calibration pairs, both orders, from a cold cache.

    python benchmarks/judge_calibration.py [N]      (default: all 32; ~14 s per verdict here)

Prints seconds per verdict, calibration accuracy per order and position-1 rate, and
each verdict, and keeps the same text in reports/judge_calibration.txt: what the
default profile's judge choice and evaluation sizes rest on (README quotes it).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import yaml

from medinstruct_core.io import write_text
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
    judge = params["llm"]["judge"]
    lines = [
        f"judge {judge['embedded_model']} on the first {len(pairs)} calibration pairs, both orders",
        f"{len(verdicts)} verdicts in {seconds:.1f} s = {seconds / len(verdicts):.1f} s each",
        *(str(result) for result in calibration_metrics(verdicts).values()),
        *(f"{v.item_id} {v.order} {v.winner} {(v.reason or '')[:100]}" for v in verdicts),
    ]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    write_text(ROOT / "reports" / "judge_calibration.txt", text)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 32)
