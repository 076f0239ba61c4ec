"""Stage `train`: LoRA SFT of the base model on the curated MedInstruct set (TRL + PEFT).

Loss is on the answers only (Alpaca prompt -> completion). Writes the student
(merged model + adapter), the summary metrics and the per-step loss CSV for
`dvc plots`. Multi-GPU: `accelerate launch --num_processes N pipelines/train.py ...`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from medinstruct_core.cli import run_cli
from medinstruct_core.io import read_jsonl, write_json
from medinstruct_core.params import load_section
from medinstruct_core.records import Example
from medinstruct_train.runtime import (
    is_main_process,
    main_process_run,
    relative,
    top_level_seed,
    write_loss_csv,
)
from medinstruct_train.sft import TrainConfig, train_sft, with_seed

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    parser.add_argument("--train", type=Path, default=ROOT / "data/curated/train.jsonl")
    parser.add_argument("--base", type=Path, default=ROOT / "models/base")
    parser.add_argument("--out", type=Path, default=ROOT / "models/student")
    parser.add_argument("--metrics", type=Path, default=ROOT / "metrics/train.json")
    parser.add_argument("--plots", type=Path, default=ROOT / "reports/train_loss.csv")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cfg = with_seed(load_section(args.params, "train", TrainConfig), top_level_seed(args.params))
    examples = read_jsonl(args.train, Example)
    inputs = [relative(p, ROOT) for p in (args.train, args.base)]
    with main_process_run("train", root=ROOT, config=cfg, inputs=inputs) as run:
        result = train_sft(cfg, args.base, examples, args.out, on_log=run.log_metrics)
        summary = result.summary()
        run.log_metrics({k: v for k, v in summary.items() if isinstance(v, int | float)})
        run.set_tags({"train.device": result.device})
        run.log_artifact(args.out / "medinstruct_train.json")
        if is_main_process():
            write_json(args.metrics, summary)
            write_loss_csv(args.plots, result.loss_history)
        run.record_outputs([relative(p, ROOT) for p in (args.out, args.metrics, args.plots)])
    if is_main_process():
        print(
            f"train: {result.steps} steps on {result.n_train} examples in {result.runtime_s:.0f} s "
            f"({result.seconds_per_step:.2f} s/step, {result.tokens_per_s:.0f} tok/s), "
            f"final loss {result.final_loss:.4f} -> {args.out}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main, "train"))
