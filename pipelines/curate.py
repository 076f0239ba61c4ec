"""Stage `curate`: rule filters, then the ROUGE-L near-duplicate filter.

Writes the kept set (the training data) and the rejected set with a reason per
record; the filter report goes to DVC metrics and MLflow.
"""

from __future__ import annotations

import sys

from medinstruct_core.io import read_jsonl, write_jsonl
from medinstruct_core.records import Example
from medinstruct_core.stage import Stage, StageSpec, stage_main
from medinstruct_curate.curate import CurateConfig, curate
from medinstruct_datagen.seeds import load_seed_tasks

SPEC = StageSpec(
    "curate",
    sections={"curate": CurateConfig},
    inputs=("examples", "seeds"),
    outputs=("kept", "rejected"),
    description=__doc__,
)


@stage_main(SPEC)
def main(stage: Stage) -> int:
    examples = read_jsonl(stage.path("examples"), Example)
    seeds = [task.instruction for task in load_seed_tasks(stage.path("seeds"))]
    result = curate(examples, seeds, stage.cfg("curate"))
    write_jsonl(stage.path("kept"), result.kept)
    write_jsonl(stage.path("rejected"), result.rejected)
    report = result.report()
    stage.run.log_jsonl_sample(
        [r.model_dump(mode="json") for r in result.rejected], "rejected_sample.jsonl"
    )
    return stage.finish(
        report, f"kept {len(result.kept)} of {len(examples)} ({report.get('yield', 0):.1%})"
    )


if __name__ == "__main__":
    sys.exit(main())
