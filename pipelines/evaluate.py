"""Stage `evaluate`: did tuning help? Base and student answer the eval sets through their own
templates; a calibrated judge panel compares each answer with the reference in both orders
(ties count half, length-controlled win rates beside the raw ones); both models take the
medical multiple-choice benchmarks through lm-evaluation-harness; one report."""

from __future__ import annotations

import sys

from medinstruct_core.llm.config import LLMSection
from medinstruct_core.llm.roles import open_judges
from medinstruct_core.stage import Stage, StageSpec, stage_main
from medinstruct_eval.answer import resolve_model_dir
from medinstruct_eval.config import EvaluateConfig
from medinstruct_eval.mcq import McqConfig
from medinstruct_eval.run import evaluate_models, load_sets, promote_student

SPEC = StageSpec(
    "evaluate",
    sections={"llm": LLMSection, "evaluate": EvaluateConfig, "mcq": McqConfig},
    inputs=("eval_set", "base", "student"),
    optional_inputs=("benchmarks",),
    outputs=("out",),
    description=__doc__,
)


@stage_main(SPEC)
def main(stage: Stage) -> int:
    cfg = stage.cfg("evaluate")
    dirs = {name: resolve_model_dir(stage.path(name)) for name in ("student", "base")}
    llm = stage.cfg("llm").seeded(stage.seed)
    with open_judges(llm, root=stage.root, stage=stage.name) as (judges, sampling):
        result = evaluate_models(
            model_dirs=dirs, sets=load_sets(stage.path("eval_set"), cfg), judges=judges,
            sampling=sampling, cfg=cfg, mcq=stage.cfg("mcq"), benchmarks_dir=stage.path("benchmarks"),
            out_dir=stage.path("out"), seed=stage.seed, dir_names={k: stage.lineage(v) for k, v in dirs.items()},
        )  # fmt: skip
        spend = {
            k: v
            for name, c in judges.items()
            for k, v in c.stats.as_metrics(f"llm.{name}.").items()
        }
    stage.run.log_metrics({**result.timings, **spend})
    if stage.run.run_id:
        stage.run.set_tags(
            {
                "medinstruct.champion_decision": promote_student(
                    stage.path("student"), result.metrics
                )
            }
        )
    for name, table in result.tables.items():
        stage.run.log_table(table, f"eval_table_{name}.json")
    verdict = "; ".join(result.warnings) or "the judge passed calibration"
    return stage.finish(result.metrics, f"{result.metrics['num_items']} items judged; {verdict}")


if __name__ == "__main__":
    sys.exit(main())
