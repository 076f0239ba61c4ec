"""Stage `evaluate`: base model and tuned student answer held-out questions; an LLM judge
compares each answer with the reference in both orders; win rates go to DVC and MLflow."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from medinstruct_core.cli import run_cli
from medinstruct_core.io import read_jsonl, write_json, write_jsonl
from medinstruct_core.llm.config import LLMSection
from medinstruct_core.llm.roles import open_role
from medinstruct_core.params import load_section
from medinstruct_core.records import EvalItem
from medinstruct_core.tracking import stage_run
from medinstruct_eval.answer import answer_all, resolve_model_dir
from medinstruct_eval.config import EvaluateConfig
from medinstruct_eval.judge import judge_answers
from medinstruct_eval.metrics import compare
from medinstruct_eval.report import answer_records, eval_table, select_items

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    parser.add_argument("--eval-set", type=Path, default=ROOT / "data/eval/eval_set.jsonl")
    parser.add_argument("--base", type=Path, default=ROOT / "models/base")
    parser.add_argument("--student", type=Path, default=ROOT / "models/student")
    parser.add_argument("--out", type=Path, default=ROOT / "reports/eval")
    parser.add_argument("--metrics", type=Path, default=ROOT / "metrics/evaluate.json")
    return parser.parse_args(argv)


def rel(path: Path) -> str:
    """Repo-relative path as DVC names it (symlinks are not followed: DVC does not either)."""
    absolute = Path(os.path.abspath(path))
    return str(absolute.relative_to(ROOT)) if absolute.is_relative_to(ROOT) else str(absolute)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cfg = load_section(args.params, "evaluate", EvaluateConfig)
    llm = load_section(args.params, "llm", LLMSection)
    items = select_items(read_jsonl(args.eval_set, EvalItem), cfg.num_items)
    dirs = {"student": resolve_model_dir(args.student), "base": resolve_model_dir(args.base)}
    inputs = [rel(p) for p in (args.eval_set, args.base, args.student)]
    with stage_run("evaluate", root=ROOT, config=cfg, inputs=inputs) as run:
        answers, timings = answer_all(dirs, items, cfg)
        records = answer_records(items, answers, {k: rel(v) for k, v in dirs.items()})
        write_jsonl(args.out / "answers.jsonl", records)
        with open_role(llm, "judge", root=ROOT) as judge:
            verdicts = judge_answers(judge, items, answers, llm.judge.sampling)
            run.log_params(judge.endpoint.public(), prefix="judge.")
            run.log_metrics(judge.stats.as_metrics("judge_"))
        write_jsonl(args.out / "verdicts.jsonl", verdicts)
        summary = compare(verdicts, samples=cfg.bootstrap_samples, seed=cfg.seed)
        metrics = {"num_items": len(items), **summary}
        write_json(args.metrics, metrics)
        run.log_metrics({**metrics, **timings})  # None (no valid verdict) is skipped
        run.log_table(eval_table(items, answers, verdicts), "eval_table.json")
        run.record_outputs([rel(args.out), rel(args.metrics)])
    print(f"evaluate: {len(items)} items; win rate vs reference: student {metrics.get('student_win_rate')}, "
          f"base {metrics.get('base_win_rate')} (delta {metrics.get('delta_win_rate')})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main, "evaluate"))
