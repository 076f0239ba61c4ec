"""Stage generate_responses: the responder answers every generated instruction."""

from __future__ import annotations

import sys

from medinstruct_core.io import read_jsonl, write_jsonl
from medinstruct_core.llm.config import LLMSection
from medinstruct_core.llm.roles import open_role
from medinstruct_core.records import GeneratedTask
from medinstruct_core.stage import Stage, StageSpec, stage_main
from medinstruct_core.tracking import scratch_dir
from medinstruct_datagen.config import GenerateResponsesConfig
from medinstruct_datagen.plots import plot_output_lengths
from medinstruct_datagen.responses import generate_responses

SPEC = StageSpec(
    "generate_responses",
    sections={"llm": LLMSection, "generate_responses": GenerateResponsesConfig},
    inputs=("instructions",),
    outputs=("out", "replies"),
    description=__doc__,
)


@stage_main(SPEC)
def main(stage: Stage) -> int:
    llm = stage.cfg("llm").seeded(stage.seed)
    replies = stage.path("replies")
    with open_role(llm, "responder", root=stage.root, stage=stage.name, replies=replies) as client:
        tasks = read_jsonl(stage.path("instructions"), GeneratedTask)
        sampling = llm.responder.sampling
        result = generate_responses(
            tasks, client, stage.cfg("generate_responses"), sampling=sampling
        )
        write_jsonl(stage.path("out"), result.examples)
        stage.run.set_tags({f"llm.responder.{k}": v for k, v in client.endpoint.public().items()})
        with scratch_dir() as tmp:
            stage.run.log_artifact(plot_output_lengths(result.examples, tmp), "plots")
        metrics = {**result.metrics(), **client.stats.as_metrics("llm.")}
    # after the role is closed: the reply store has its new segment, so its md5 is final
    return stage.finish(metrics, f"{len(result.examples)} examples, {result.truncated} truncated")


if __name__ == "__main__":
    sys.exit(main())
