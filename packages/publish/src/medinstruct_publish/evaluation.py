"""metrics/evaluate.json read back into typed results, and into the Hub's model-index.

The evaluate stage writes flat keys (`<reference>_<model>_win_rate_ci_low`,
`mcq_<model>_<benchmark>_acc_stderr`); this module parses them once so the card
can print every number with its interval and n, never a bare point estimate.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from huggingface_hub import EvalResult
from pydantic import BaseModel, ConfigDict

# Where each MCQ benchmark lives on the Hub, and its config there (MMLU: the subject).
# MedQA, MedMCQA and PubMedQA are files the user supplies (mcq.data.*_path), so their
# split is not known here and is left out rather than guessed.
MCQ_HUB: Mapping[str, tuple[str, str | None, str | None]] = {
    "medqa": ("GBaker/MedQA-USMLE-4-options", None, None),
    "medmcqa": ("openlifescienceai/medmcqa", None, None),
    "pubmedqa": ("qiaojin/PubMedQA", "pqa_labeled", None),
}
_WIN = re.compile(r"(?P<ref>.+)_(?P<model>base|student)_win_rate")
_DELTA = re.compile(r"(?P<ref>.+)_delta_win_rate")
_MCQ = re.compile(r"mcq_(?P<model>base|student)_(?P<bench>.+)_acc")


class WinRate(BaseModel):
    """One model's LLM-judge win rate against one reference, with its bootstrap 95% CI."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reference: str
    model: str
    win_rate: float
    ci_low: float | None = None
    ci_high: float | None = None
    lc_win_rate: float | None = None
    lc_ci_low: float | None = None
    lc_ci_high: float | None = None
    items: int | None = None
    invalid_rate: float | None = None


class McqScore(BaseModel):
    """Accuracy on one benchmark with lm-evaluation-harness's standard error and n."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    benchmark: str
    model: str
    acc: float
    stderr: float | None = None
    n: int | None = None


def _num(metrics: Mapping[str, Any], key: str) -> Any:
    value = metrics.get(key)
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def win_rates(metrics: Mapping[str, Any]) -> list[WinRate]:
    found = []
    for key in sorted(metrics):
        match = _WIN.fullmatch(key)
        if match is None or _num(metrics, key) is None:
            continue
        lc = f"{match['ref']}_{match['model']}_lc_win_rate"
        found.append(
            WinRate(
                reference=match["ref"],
                model=match["model"],
                win_rate=metrics[key],
                ci_low=_num(metrics, f"{key}_ci_low"),
                ci_high=_num(metrics, f"{key}_ci_high"),
                lc_win_rate=_num(metrics, lc),
                lc_ci_low=_num(metrics, f"{lc}_ci_low"),
                lc_ci_high=_num(metrics, f"{lc}_ci_high"),
                items=_num(metrics, f"{match['ref']}_{match['model']}_items"),
                invalid_rate=_num(metrics, f"{match['ref']}_{match['model']}_invalid_rate"),
            )
        )
    return found


def deltas(metrics: Mapping[str, Any]) -> list[WinRate]:
    """Student minus base win rate per reference (model "student - base"), with its CI."""
    found = []
    for key in sorted(metrics):
        match = _DELTA.fullmatch(key)
        if match is None or _num(metrics, key) is None:
            continue
        found.append(
            WinRate(reference=match["ref"], model="student - base", win_rate=metrics[key],
                    ci_low=_num(metrics, f"{key}_ci_low"), ci_high=_num(metrics, f"{key}_ci_high"))
        )  # fmt: skip
    return found


def mcq_scores(metrics: Mapping[str, Any]) -> list[McqScore]:
    found = []
    for key in sorted(metrics):
        match = _MCQ.fullmatch(key)
        if match is None or match["bench"] == "macro" or _num(metrics, key) is None:
            continue
        found.append(
            McqScore(benchmark=match["bench"], model=match["model"], acc=metrics[key],
                     stderr=_num(metrics, f"{key}_stderr"), n=_num(metrics, f"{key[:-4]}_n"))
        )  # fmt: skip
    return found


def mcq_dataset(benchmark: str) -> tuple[str, str | None, str | None]:
    """(hub dataset id, config, split) of a benchmark; MMLU subjects are configs of cais/mmlu."""
    if benchmark.startswith("mmlu_"):
        return "cais/mmlu", benchmark.removeprefix("mmlu_"), "test"
    return MCQ_HUB.get(benchmark, (benchmark, None, None))


def eval_results(
    metrics: Mapping[str, Any], eval_dataset: str, num_fewshot: int | None
) -> list[EvalResult]:
    """The student's results as model-index entries (point values; the card body has the CIs)."""
    results = [
        EvalResult(
            task_type="text-generation",
            task_name="LLM-judge win rate against reference answers",
            dataset_type=eval_dataset,
            dataset_name=f"medinstruct held-out set (reference: {w.reference})",
            metric_type="win_rate",
            metric_name="win rate (95% CI in the card)",
            metric_value=w.win_rate,
        )
        for w in win_rates(metrics)
        if w.model == "student"
    ]
    for score in (s for s in mcq_scores(metrics) if s.model == "student"):
        dataset, config, split = mcq_dataset(score.benchmark)
        results.append(
            EvalResult(
                task_type="text-generation",
                task_name="medical multiple choice (lm-evaluation-harness)",
                dataset_type=dataset,
                dataset_name=score.benchmark,
                dataset_config=config,
                dataset_split=split,
                dataset_args={"num_few_shot": num_fewshot} if num_fewshot is not None else None,
                metric_type="acc",
                metric_name=f"accuracy (n={score.n}, stderr={score.stderr})",
                metric_value=score.acc,
            )
        )
    return results
