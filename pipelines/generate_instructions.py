"""Stage generate_instructions: the teacher writes new medical tasks from clinician seeds."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from medinstruct_core.cli import run_cli
from medinstruct_core.io import write_json, write_jsonl
from medinstruct_core.llm.config import LLMSection
from medinstruct_core.llm.roles import open_role
from medinstruct_core.params import load_section, read_params
from medinstruct_core.tracking import stage_run
from medinstruct_datagen.config import GenerateInstructionsConfig
from medinstruct_datagen.instructions import generate_instructions
from medinstruct_datagen.plots import plot_distributions
from medinstruct_datagen.seeds import load_seed_tasks

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--seeds", default="data/seeds/seed_tasks.jsonl")
    parser.add_argument("--out", default="data/generated/instructions.jsonl")
    parser.add_argument("--metrics", default="metrics/generate_instructions.json")
    parser.add_argument("--plots-dir", default="reports/generation")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    llm = load_section(args.params, "llm", LLMSection)
    cfg = load_section(args.params, "generate_instructions", GenerateInstructionsConfig)
    seed = int(read_params(args.params).get("seed", 0))
    seeds = load_seed_tasks(args.seeds)
    teacher = llm.teacher.model_dump()
    config = {"seed": seed, "generate_instructions": cfg.model_dump(), "llm.teacher": teacher}
    with (
        stage_run("generate_instructions", root=ROOT, config=config, inputs=[args.seeds]) as run,
        open_role(llm, "teacher", root=ROOT) as client,
    ):

        def log_round(step: int, round_metrics: dict[str, float]) -> None:
            run.log_metrics({**round_metrics, **client.stats.as_metrics("llm.")}, step=step)

        result = generate_instructions(
            seeds, client, cfg, seed, sampling=llm.teacher.sampling, on_round=log_round
        )
        write_jsonl(args.out, result.tasks)
        metrics = {**result.metrics(), **client.stats.as_metrics("llm.")}
        summary = {"mode": result.mode, "stop_reason": result.stop_reason}
        write_json(args.metrics, {**metrics, **summary})
        run.log_metrics(metrics)
        tags = {f"llm.teacher.{k}": v for k, v in client.endpoint.public().items()}
        run.set_tags({**tags, **{f"generate_instructions.{k}": v for k, v in summary.items()}})
        run.log_jsonl_sample(
            [t.model_dump(mode="json") for t in result.tasks], "samples/instructions.jsonl"
        )
        plot_distributions(result.tasks, args.plots_dir)
        run.log_artifact(args.plots_dir)
        run.record_outputs([args.out, args.metrics, args.plots_dir])
    print(f"generate_instructions: kept {len(result.tasks)} tasks ({result.stop_reason})")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main, "generate_instructions"))
