"""Stage `evaluate`: base model and tuned student answer held-out questions; an LLM judge
compares each answer with the reference in both orders; win rates go to DVC and MLflow."""

from __future__ import annotations

import sys

from medinstruct_core.io import read_jsonl, write_jsonl
from medinstruct_core.llm.config import LLMSection
from medinstruct_core.llm.roles import open_role
from medinstruct_core.records import EvalItem
from medinstruct_core.stage import Stage, StageSpec, stage_main
from medinstruct_eval.answer import answer_all, resolve_model_dir
from medinstruct_eval.config import EvaluateConfig
from medinstruct_eval.judge import judge_answers
from medinstruct_eval.metrics import compare
from medinstruct_eval.report import answer_records, eval_table, select_items

SPEC = StageSpec(
    "evaluate",
    sections={"llm": LLMSection, "evaluate": EvaluateConfig},
    inputs=("eval_set", "base", "student"),
    outputs=("out",),
    description=__doc__,
)


@stage_main(SPEC)
def main(stage: Stage) -> int:
    cfg, llm = stage.cfg("evaluate"), stage.cfg("llm")
    items = select_items(read_jsonl(stage.path("eval_set"), EvalItem), cfg.num_items)
    dirs = {name: resolve_model_dir(stage.path(name)) for name in ("student", "base")}
    answers, timings = answer_all(dirs, items, cfg)
    write_jsonl(
        stage.path("out") / "answers.jsonl",
        answer_records(items, answers, {k: stage.lineage(v) for k, v in dirs.items()}),
    )
    with open_role(llm, "judge", root=stage.root) as judge:
        verdicts = judge_answers(judge, items, answers, llm.judge.sampling)
        judge_metrics = judge.stats.as_metrics("judge_")
    write_jsonl(stage.path("out") / "verdicts.jsonl", verdicts)
    metrics = {
        "num_items": len(items),
        **compare(verdicts, samples=cfg.bootstrap_samples, seed=stage.seed),
    }
    stage.run.log_metrics({**timings, **judge_metrics})
    stage.run.log_table(eval_table(items, answers, verdicts), "eval_table.json")
    return stage.finish(metrics, f"{len(items)} items; win rate vs reference: student "
                        f"{metrics.get('student_win_rate')}, base {metrics.get('base_win_rate')}")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
