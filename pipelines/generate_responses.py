"""Stage generate_responses: the responder answers every generated instruction."""

from __future__ import annotations

import sys

from medinstruct_core.io import read_jsonl, write_jsonl
from medinstruct_core.llm.config import LLMSection
from medinstruct_core.llm.estimate import announce
from medinstruct_core.llm.roles import open_role
from medinstruct_core.records import GeneratedTask
from medinstruct_core.stage import Stage, StageSpec, stage_main
from medinstruct_core.tracking import scratch_dir
from medinstruct_datagen.config import GenerateResponsesConfig
from medinstruct_datagen.estimate import estimate_responses
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
    llm, cfg = stage.cfg("llm").seeded(stage.seed), stage.cfg("generate_responses")
    replies = stage.path("replies")
    tasks = read_jsonl(stage.path("instructions"), GeneratedTask)
    # One line before the first request; exit 2 if even the low end cannot fit the budget.
    announce(stage.name, estimate_responses(tasks, cfg, llm, root=stage.root))
    with open_role(llm, "responder", root=stage.root, stage=stage.name, replies=replies) as client:
        result = generate_responses(tasks, client, cfg, sampling=llm.responder.sampling)
        write_jsonl(stage.path("out"), result.examples)
        stage.run.set_tags({f"llm.responder.{k}": v for k, v in client.endpoint.public().items()})
        with scratch_dir() as tmp:
            stage.run.log_artifact(plot_output_lengths(result.examples, tmp), "plots")
        metrics = {**result.metrics(), **client.stats.as_metrics("llm.")}
    # after the role is closed: the reply store has its new segment, so its md5 is final
    return stage.finish(metrics, f"{len(result.examples)} examples, {result.truncated} truncated")


if __name__ == "__main__":
    sys.exit(main())
