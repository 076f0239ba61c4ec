"""Stage `curate`: rule filters, then the ROUGE-L near-duplicate filter.

Writes the kept set (the training data) and the rejected set with a reason per
record; the filter report goes to DVC metrics and MLflow.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from medinstruct_core.cli import run_cli
from medinstruct_core.io import read_jsonl, write_json, write_jsonl
from medinstruct_core.params import load_section
from medinstruct_core.records import Example
from medinstruct_core.tracking import stage_run
from medinstruct_curate.curate import CurateConfig, curate
from medinstruct_datagen.seeds import load_seed_tasks

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    parser.add_argument("--examples", type=Path, required=True)
    parser.add_argument("--seeds", type=Path, required=True)
    parser.add_argument("--kept", type=Path, required=True)
    parser.add_argument("--rejected", type=Path, required=True)
    parser.add_argument("--metrics", type=Path, required=True)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cfg = load_section(args.params, "curate", CurateConfig)
    examples = read_jsonl(args.examples, Example)
    seeds = [task.instruction for task in load_seed_tasks(args.seeds)]
    inputs = [
        str(p.relative_to(ROOT)) if p.is_absolute() else str(p) for p in (args.examples, args.seeds)
    ]
    with stage_run("curate", root=ROOT, config=cfg, inputs=inputs) as run:
        result = curate(examples, seeds, cfg)
        write_jsonl(args.kept, result.kept)
        write_jsonl(args.rejected, result.rejected)
        report = result.report()
        write_json(args.metrics, report)
        run.log_metrics(report)
        run.log_dict(report, "filter_report.json")
        run.log_jsonl_sample(
            [r.model_dump(mode="json") for r in result.rejected], "rejected_sample.jsonl"
        )
        run.record_outputs([str(args.kept), str(args.rejected)])
    print(f"curate: kept {len(result.kept)} of {len(examples)} ({report.get('yield', 0):.1%})")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main, "curate"))
