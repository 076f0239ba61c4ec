"""Stage `evaluate`: any model against any reference, and only what the numbers support.
Every candidate (base and student by default; any model directory, GGUF, MLflow model or
OpenAI-compatible endpoint; the registry's champion when there is one) answers the eval
sets, a calibrated judge panel compares each answer with the reference in both orders, and
one report opens with what the data supports, above the leaderboard (every rate with its
interval), the paired comparisons, the champion decision and the multiple-choice table."""

from __future__ import annotations

import functools
import sys

from medinstruct_core.llm.config import LLMSection
from medinstruct_core.llm.estimate import announce
from medinstruct_core.llm.roles import open_judges
from medinstruct_core.stage import Stage, StageSpec, stage_main
from medinstruct_eval import run
from medinstruct_eval.answer import resolve_model_dir
from medinstruct_eval.champion import find_champion, record_decision
from medinstruct_eval.config import EvaluateConfig
from medinstruct_eval.estimate import estimate_judging
from medinstruct_eval.mcq import McqConfig
from medinstruct_eval.remote import open_candidate

SPEC = StageSpec(
    "evaluate",
    sections={"llm": LLMSection, "evaluate": EvaluateConfig, "mcq": McqConfig},
    inputs=("eval_set", "base", "student"),
    optional_inputs=("benchmarks",),
    outputs=("out", "replies"),
    description=__doc__,
)


@stage_main(SPEC)
def main(stage: Stage) -> int:
    cfg, llm = stage.cfg("evaluate"), stage.cfg("llm").seeded(stage.seed)
    pipeline = {name: resolve_model_dir(stage.path(name)) for name in ("base", "student")}
    champion = find_champion(pipeline["student"]) if stage.run.run_id else None  # registry: MLflow
    candidates = run.stage_candidates(
        cfg, pipeline, champion, root=stage.root, lineage=stage.lineage
    )
    sets = run.load_sets(stage.path("eval_set"), cfg)
    # One line before the first verdict; exit 2 if even the low end cannot fit the budget.
    announce(stage.name, estimate_judging([s.items for s in sets], cfg, llm, root=stage.root))
    replies = stage.path("replies")  # judge and endpoint replies travel with the data (a DVC out)
    open_client = functools.partial(open_candidate, llm, root=stage.root, stage=stage.name, replies=replies)  # fmt: skip
    with open_judges(llm, root=stage.root, stage=stage.name, replies=replies) as (judges, sampling):
        result = run.evaluate_models(
            candidates=candidates, sets=sets,
            judging=run.Judging(judges, sampling), cfg=cfg, open_client=open_client,
            out_dir=stage.path("out"), seed=stage.seed, mcq=stage.cfg("mcq"),
            benchmarks_dir=stage.path("benchmarks"), embedded=llm.embedded, champion=champion,
        )  # fmt: skip
        stage.run.log_metrics({**result.timings, **run.client_metrics(judges)})
    for name, table in result.tables.items():
        stage.run.log_table(table, f"eval_table_{name}.json")
    stage.run.log_table(result.leaderboard, "leaderboard.json")  # the paper's table, in MLflow
    if result.decision is not None:
        record_decision(result.decision)  # tags on the student's version; the alias if promoted
    verdict = "; ".join(result.warnings) or "the judge passed calibration and the position check"
    return stage.finish(result.metrics, f"{result.metrics['headline']} ({verdict})")


if __name__ == "__main__":
    sys.exit(main())
