"""Stage generate_instructions: the teacher writes new medical tasks from clinician seeds."""

from __future__ import annotations

import sys

from medinstruct_core.io import write_jsonl
from medinstruct_core.llm.config import LLMSection
from medinstruct_core.llm.estimate import announce
from medinstruct_core.llm.roles import open_role
from medinstruct_core.stage import Stage, StageSpec, stage_main
from medinstruct_datagen.config import GenerateInstructionsConfig
from medinstruct_datagen.estimate import estimate_instructions
from medinstruct_datagen.instructions import generate_instructions
from medinstruct_datagen.plots import plot_distributions
from medinstruct_datagen.seeds import load_seed_tasks
from medinstruct_text.rules import CurateFilters

SPEC = StageSpec(
    "generate_instructions",
    sections={
        "llm": LLMSection,
        "generate_instructions": GenerateInstructionsConfig,
        "curate": CurateFilters,  # its rule filters run before the ROUGE-L check (Self-Instruct)
    },
    inputs=("seeds",),
    outputs=("out", "plots_dir", "replies"),
    description=__doc__,
)


@stage_main(SPEC)
def main(stage: Stage) -> int:
    llm, cfg = stage.cfg("llm").seeded(stage.seed), stage.cfg("generate_instructions")
    replies, seeds = stage.path("replies"), load_seed_tasks(stage.path("seeds"))
    # One line before the first request; exit 2 if even the low end cannot fit the budget.
    announce(stage.name, estimate_instructions(seeds, cfg, llm, root=stage.root, seed=stage.seed))
    with open_role(llm, "teacher", root=stage.root, stage=stage.name, replies=replies) as client:
        result = generate_instructions(
            seeds, client, cfg, stage.seed,
            sampling=llm.teacher.sampling, rules=stage.cfg("curate").filters,
            on_round=lambda step, m: stage.log_metrics({**m, **client.stats.as_metrics("llm.")}, step),
        )  # fmt: skip
        write_jsonl(stage.path("out"), result.tasks)
        plot_distributions(result.tasks, stage.path("plots_dir"))
        stage.run.log_artifact(stage.path("plots_dir"))
        stage.run.set_tags({f"llm.teacher.{k}": v for k, v in client.endpoint.public().items()})
        metrics = {**result.metrics(), **client.stats.as_metrics("llm."), "mode": result.mode,
                   "stop_reason": result.stop_reason}  # fmt: skip
    # after the role is closed: the reply store has its new segment, so its md5 is final
    return stage.finish(metrics, f"kept {len(result.tasks)} tasks ({result.stop_reason})")


if __name__ == "__main__":
    sys.exit(main())
