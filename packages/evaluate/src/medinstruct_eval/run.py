"""The `evaluate` stage's body: did tuning help, measured the ways the paper measured it.

1. Base and student answer every eval set, each through its own prompt template.
2. Judge calibration: every judge decides pairs with a known better answer, in both
   orders; a judge that cannot is reported (or dropped, or stops the stage).
3. The judge panel compares each answer with each set's reference, both orders.
4. Medical multiple choice through lm-evaluation-harness, base and student.
5. One report (Markdown and PNGs) and flat metrics for DVC and MLflow.

Everything paid or slow is cached: judge calls by the LLM client, so a re-run with
nothing changed makes no judge call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medinstruct_core.io import write_jsonl
from medinstruct_core.llm.config import Sampling
from medinstruct_core.records import EvalItem
from medinstruct_eval.answer import ModelAnswers, answer_candidates
from medinstruct_eval.calibration import (
    calibration_metrics,
    calibration_summary,
    judge_calibration,
    load_calibration,
    report_summary,
    trusted_panel,
)
from medinstruct_eval.config import EvaluateConfig
from medinstruct_eval.eval_report import write_report
from medinstruct_eval.evalsets import load_eval_set
from medinstruct_eval.judge import JudgeClient, PanelVerdict, judge_panel
from medinstruct_eval.mcq import McqConfig, run_mcq
from medinstruct_eval.metrics import invalid_warnings, nested_summary, panel_summary
from medinstruct_eval.report import answer_records, answer_texts, eval_table, select_items

MAIN_SET = "medinstruct"


@dataclass
class EvalSet:
    name: str
    items: list[EvalItem]


@dataclass
class Evaluation:
    """What the stage logs: flat metrics, per-set tables, warnings for the last line."""

    metrics: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def answers_file(out_dir: Path, set_name: str) -> Path:
    """answers.jsonl for our own set (what the clinician review reads), answers_<set>.jsonl else."""
    return out_dir / ("answers.jsonl" if set_name == MAIN_SET else f"answers_{set_name}.jsonl")


def load_sets(main_path: Path, cfg: EvaluateConfig) -> list[EvalSet]:
    """Our held-out set first, then every `evaluate.eval_sets` entry with its reference."""
    sets = [EvalSet(MAIN_SET, select_items(load_eval_set(main_path), cfg.num_items))]
    for extra in cfg.eval_sets:
        limit = cfg.num_items if extra.num_items is None else extra.num_items
        sets.append(
            EvalSet(extra.name, select_items(load_eval_set(extra.path, extra.reference), limit))
        )
    return sets


def calibrate(
    judges: Mapping[str, JudgeClient], cfg: EvaluateConfig, sampling: Mapping[str, Sampling]
) -> tuple[dict[str, JudgeClient], dict[str, Any], dict[str, Any], list[str]]:
    """(panel to judge with, flat metrics, the report's calibration block, warnings)."""
    if not cfg.calibration.enabled:
        return dict(judges), {}, {}, []
    pairs = load_calibration(cfg.calibration.path)[: cfg.calibration.num_items]
    verdicts = judge_calibration(judges, pairs, sampling)
    results = calibration_metrics(verdicts)
    thresholds = cfg.calibration.thresholds
    panel, reasons = trusted_panel(judges, results, thresholds, cfg.calibration.on_untrusted)
    return (
        panel,
        calibration_summary(results, thresholds),
        report_summary(results, thresholds),
        reasons,
    )


def judge_sets(
    panel: Mapping[str, JudgeClient],
    sets: Sequence[EvalSet],
    answers: Mapping[str, Mapping[str, ModelAnswers]],
    sampling: Mapping[str, Sampling],
) -> list[PanelVerdict]:
    verdicts: list[PanelVerdict] = []
    for eval_set in sets:
        texts = answer_texts(answers[eval_set.name])
        verdicts += judge_panel(panel, eval_set.items, texts, sampling, eval_set=eval_set.name)
    return verdicts


def evaluate_models(
    *,
    model_dirs: Mapping[str, Path],
    sets: Sequence[EvalSet],
    judges: Mapping[str, JudgeClient],
    sampling: Mapping[str, Sampling],
    cfg: EvaluateConfig,
    mcq: McqConfig | None,
    benchmarks_dir: Path | None,
    out_dir: Path,
    seed: int,
    dir_names: Mapping[str, str],
) -> Evaluation:
    """Answer, calibrate, judge, run MCQ and write answers, verdicts and the report to `out_dir`."""
    result = Evaluation()
    answers = {}
    for eval_set in sets:
        answers[eval_set.name], seconds = answer_candidates(model_dirs, eval_set.items, cfg)
        result.timings.update({f"{eval_set.name}_{k}": v for k, v in seconds.items()})
    for eval_set in sets:
        write_jsonl(answers_file(out_dir, eval_set.name),
                    answer_records(eval_set.items, answers[eval_set.name], dir_names))  # fmt: skip
    panel, calibration, calibration_block, result.warnings = calibrate(judges, cfg, sampling)
    verdicts = judge_sets(panel, sets, answers, sampling)
    write_jsonl(out_dir / "verdicts.jsonl", verdicts)
    summary: dict[str, Any] = dict(samples=cfg.bootstrap_samples, seed=seed,
                                   max_invalid_rate=cfg.max_invalid_rate, lc_penalty=cfg.lc_penalty)  # fmt: skip
    result.metrics = {"num_items": sum(len(s.items) for s in sets), **calibration,
                      **panel_summary(verdicts, **summary)}  # fmt: skip
    result.warnings += invalid_warnings(result.metrics, cfg.max_invalid_rate)
    result.tables = {s.name: eval_table(s.items, answers[s.name], [v for v in verdicts if v.eval_set == s.name])
                     for s in sets}  # fmt: skip
    mcq_metrics = run_benchmarks(model_dirs, mcq, benchmarks_dir)
    result.metrics.update(flat_mcq(mcq_metrics))
    for model, run in mcq_metrics.items():
        result.timings[f"mcq_{model}_questions_per_s"] = run.get("timing", {}).get(
            "questions_per_second", 0.0
        )
    report = write_report(
        out_dir, nested_summary(verdicts, **summary), mcq_metrics, calibration_block
    )
    result.metrics["judge_trusted"] = int(report["judge_trusted"])
    result.warnings += [p for p in report["problems"] if p not in result.warnings]
    return result


def run_benchmarks(
    model_dirs: Mapping[str, Path], mcq: McqConfig | None, data_dir: Path | None
) -> dict[str, dict[str, Any]]:
    """lm-eval on each model; {} when MCQ is off (no config or no data)."""
    if mcq is None or data_dir is None or not mcq.benchmarks:
        return {}
    return {
        name: run_mcq(model_dir, mcq.benchmarks, mcq.limit, data_dir=data_dir, config=mcq)
        for name, model_dir in model_dirs.items()
    }


def flat_mcq(mcq_metrics: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """`mcq_<model>_<subject>_acc` ..., `mcq_<model>_macro_acc`, and skipped benchmarks as text."""
    flat: dict[str, Any] = {}
    for model, run in mcq_metrics.items():
        for subject, row in run.get("subjects", {}).items():
            for key in ("acc", "acc_stderr", "acc_norm", "n"):
                flat[f"mcq_{model}_{subject}_{key}"] = row.get(key)
        for key, value in run.get("macro", {}).items():
            flat[f"mcq_{model}_macro_{key}"] = value
    return flat


CHAMPION_METRIC = f"{MAIN_SET}_student_win_rate"


def promote_student(student_dir: Path, metrics: Mapping[str, Any]) -> str:
    """Move the registry's `champion` alias to the scored student if it beats the current
    champion beyond its CI on our set's win rate; returns why (or why not), "" if the
    student is not a registered version (a run without MLflow)."""
    from medinstruct_core.lineage import dir_md5
    from medinstruct_train.registry import promote_champion, version_for

    version = version_for(dir_md5(student_dir))
    low, high = metrics.get(f"{CHAMPION_METRIC}_ci_low"), metrics.get(f"{CHAMPION_METRIC}_ci_high")
    value = metrics.get(CHAMPION_METRIC)
    if version is None or value is None or low is None or high is None:
        return ""
    return promote_champion(version, CHAMPION_METRIC, value, (low, high)).reason
