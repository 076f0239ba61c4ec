"""Stage `validate`: the Great Expectations quality gate over the curated examples.

Exit 0 when every suite passes, 1 when any fails (each failed expectation goes
to stderr), 2 when the input or params cannot be read. Data Docs HTML, plots
and the metrics JSON are written where asked, also on failure: they show why.
"""

from __future__ import annotations

import sys

from medinstruct_core.stage import Stage, StageSpec, stage_main
from medinstruct_gate.config import GateConfig

SPEC = StageSpec(
    "validate",
    sections={"validate": GateConfig},
    inputs=("input",),
    optional_outputs=("docs_dir", "plots_dir"),
    description=__doc__,
)


@stage_main(SPEC)
def main(stage: Stage) -> int:
    # Imported here: GX takes seconds to import; a params typo should fail at once.
    from medinstruct_gate.stage import run_validate_stage

    result = run_validate_stage(stage.path("input"), stage.cfg("validate"), stage.path("docs_dir"),
                                stage.path("plots_dir"))  # fmt: skip
    stage.run.log_text("\n".join(result.summary()) + "\n", "gate_summary.txt")
    for folder in filter(None, (stage.path("docs_dir"), stage.path("plots_dir"))):
        stage.run.log_artifact(folder)
    metrics = {**result.metrics_json(), "gate": "passed" if result.success else "failed"}
    return stage.finish(metrics, "\n".join(result.summary()), code=0 if result.success else 1)


if __name__ == "__main__":
    sys.exit(main())
