"""Stage generate_responses: the responder answers every generated instruction."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from medinstruct_core.cli import run_cli
from medinstruct_core.io import read_jsonl, write_json, write_jsonl
from medinstruct_core.llm.config import LLMSection
from medinstruct_core.llm.roles import open_role
from medinstruct_core.params import load_section
from medinstruct_core.records import GeneratedTask
from medinstruct_core.tracking import scratch_dir, stage_run
from medinstruct_datagen.config import GenerateResponsesConfig
from medinstruct_datagen.plots import plot_output_lengths
from medinstruct_datagen.responses import generate_responses

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--instructions", default="data/generated/instructions.jsonl")
    parser.add_argument("--out", default="data/generated/examples.jsonl")
    parser.add_argument("--metrics", default="metrics/generate_responses.json")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    llm = load_section(args.params, "llm", LLMSection)
    cfg = load_section(args.params, "generate_responses", GenerateResponsesConfig)
    tasks = read_jsonl(args.instructions, GeneratedTask)
    config = {"generate_responses": cfg.model_dump(), "llm.responder": llm.responder.model_dump()}
    with (
        stage_run(
            "generate_responses", root=ROOT, config=config, inputs=[args.instructions]
        ) as run,
        open_role(llm, "responder", root=ROOT) as client,
    ):
        result = generate_responses(tasks, client, cfg, sampling=llm.responder.sampling)
        write_jsonl(args.out, result.examples)
        metrics = {**result.metrics(), **client.stats.as_metrics("llm.")}
        write_json(args.metrics, metrics)
        run.log_metrics(metrics)
        run.log_dict({"failed": result.failed}, "failures.json")
        run.set_tags({f"llm.responder.{k}": v for k, v in client.endpoint.public().items()})
        run.log_jsonl_sample(
            [e.model_dump(mode="json") for e in result.examples], "samples/examples.jsonl"
        )
        with scratch_dir() as tmp:
            run.log_artifact(plot_output_lengths(result.examples, tmp), "plots")
        run.record_outputs([args.out, args.metrics])
    print(f"generate_responses: {len(result.examples)} examples, {result.truncated} truncated")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main, "generate_responses"))
