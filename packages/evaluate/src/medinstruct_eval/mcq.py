"""Medical multiple-choice accuracy through lm-evaluation-harness (`lm-eval`).

We do not score multiple choice ourselves: lm-eval's log-likelihood ranking of
the answer letters is the community's reference implementation, so numbers stay
comparable with published MMLU/MedQA results. What this module adds is local,
offline plumbing:

- the task YAMLs shipped in `medinstruct_eval/tasks/` (package data; runnable
  from the CLI with `lm_eval --include_path packages/evaluate/src/medinstruct_eval/tasks`
  from the repo root) read the normalised JSONL written by `mcq_data`;
- `run_mcq` points those YAMLs at a data directory through a per-run include
  directory of two-line YAMLs (lm-eval's public `TaskManager(include_path=...)`),
  so no private lm-eval API is used, and runs `lm_eval.simple_evaluate` with the
  "hf" model on a local directory, or with an LM object for the other candidate
  kinds (`run.candidate_mcq`: a GGUF through llama.cpp, an endpoint that returns
  log-probabilities; see mcq_remote.py);
- a benchmark whose data file is absent (MedQA/MedMCQA/PubMedQA are supplied by
  the user) is skipped with a note instead of failing the stage.

Result shape of `run_mcq`::

    {"subjects": {"mmlu_anatomy": {"acc": .., "acc_stderr": .., "acc_norm": ..,
                                   "acc_norm_stderr": .., "n": 135}, ...},
     "macro": {"acc": .., "acc_norm": .., "n_subjects": 6},   # unweighted mean
     "skipped": {"medqa": "<why>"}, "limit": None, "num_fewshot": 0,
     "lm_eval_version": "0.4.13",
     "timing": {"seconds": .., "questions": .., "questions_per_second": ..}}

For the lettered benchmarks the continuation is one letter, so `acc_norm`
(length-normalised) equals `acc`; it differs only for PubMedQA's yes/no/maybe.
`timing` varies run to run; keep it out of DVC metrics files (log it to MLflow).
Note lm-eval seeds Python/NumPy/torch RNGs itself inside `simple_evaluate`.
"""

from __future__ import annotations

import importlib.metadata
import json
import tempfile
import time
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from medinstruct_core.cli import StageFailed
from medinstruct_core.params import Config
from medinstruct_eval.mcq_data import (
    MMLU_MEDICAL,
    USER_BENCHMARKS,
    McqDataConfig,
    benchmark_file,
    mmlu_name,
)
from medinstruct_train.loading import torch_threads

TASK_PREFIX = "medinstruct_"
ALL_BENCHMARKS = tuple(mmlu_name(s) for s in MMLU_MEDICAL) + USER_BENCHMARKS
METRICS = ("acc", "acc_norm")


class McqError(StageFailed):
    """The MCQ evaluation cannot run: unknown benchmark, missing model or no data at all."""


class McqConfig(Config):
    """The `mcq:` params section: what to run and, under `data`, where the benchmarks come from."""

    benchmarks: list[str] = Field(default_factory=lambda: list(ALL_BENCHMARKS))
    limit: int | None = Field(None, ge=1)  # questions per benchmark; None = all
    batch_size: int = Field(8, ge=1)
    num_fewshot: int = Field(0, ge=0)
    device: str = "cpu"
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    n_ctx: int = Field(2048, ge=256, description="llama.cpp context when scoring a GGUF")
    torch_threads: int = Field(
        0,
        ge=0,
        description="CPU threads for a local model (0 = torch's default); see medinstruct_train.loading.torch_threads",
    )
    data: McqDataConfig = Field(default_factory=McqDataConfig)

    @field_validator("benchmarks")
    @classmethod
    def _known_benchmarks(cls, value: list[str]) -> list[str]:
        try:
            return check_benchmarks(value)
        except McqError as exc:  # pydantic turns only ValueError into a named params error
            raise ValueError(str(exc)) from None


def tasks_dir() -> Path:
    """The packaged task YAMLs (for `--include_path` or `TaskManager(include_path=...)`)."""
    return Path(str(resources.files("medinstruct_eval") / "tasks"))


def task_name(benchmark: str) -> str:
    return TASK_PREFIX + benchmark


def check_benchmarks(benchmarks: Sequence[str]) -> list[str]:
    unknown = [b for b in benchmarks if b not in ALL_BENCHMARKS]
    if unknown:
        raise McqError(
            f"mcq.benchmarks: unknown {', '.join(unknown)}; known: {', '.join(ALL_BENCHMARKS)}"
        )
    return list(dict.fromkeys(benchmarks))


def split_available(
    benchmarks: Sequence[str], data_dir: str | Path
) -> tuple[list[str], dict[str, str]]:
    """(benchmarks whose data file exists, {skipped benchmark: reason})."""
    present, skipped = [], {}
    for name in check_benchmarks(benchmarks):
        path = benchmark_file(data_dir, name)
        if path.is_file():
            present.append(name)
        else:
            skipped[name] = f"{path}: not found (benchmark skipped)"
    return present, skipped


def write_run_tasks(benchmarks: Sequence[str], data_dir: str | Path, out_dir: Path) -> Path:
    """Per-run YAMLs: each includes the packaged task and points data_files at `data_dir`.

    The datasets cache goes under `out_dir` too, so a run leaves no Arrow copies
    of the benchmarks in ~/.cache (the JSONL files are the only source of truth).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    cache = (out_dir / "datasets-cache").resolve()
    for name in benchmarks:
        packaged = tasks_dir() / f"{task_name(name)}.yaml"
        data = benchmark_file(data_dir, name).resolve()
        text = (
            f"include: {json.dumps(str(packaged.resolve()))}\n"
            f"task: {task_name(name)}\n"
            f"dataset_kwargs:\n  cache_dir: {json.dumps(str(cache))}\n"
            f"  data_files:\n    test: {json.dumps(str(data))}\n"
        )
        (out_dir / f"{task_name(name)}.yaml").write_text(text, encoding="utf-8")
    return out_dir


def model_args(model_dir: str | Path, dtype: str) -> dict[str, Any]:
    """lm-eval "hf" arguments; a student holding only a LoRA adapter loads base + `peft`."""
    from medinstruct_train.artifacts import read_sidecar
    from medinstruct_train.loading import TRAIN_META, adapter_dir, has_weights

    path = Path(model_dir)
    args: dict[str, Any] = {"dtype": dtype}
    if has_weights(path):
        return {**args, "pretrained": str(path.resolve())}
    adapter = adapter_dir(path)
    if adapter is None:
        raise McqError(f"{path}: neither model weights (config.json) nor adapter/ found")
    base = read_sidecar(path, TRAIN_META).get("base_dir")
    if not base:
        raise McqError(f"{path}/{TRAIN_META}: field 'base_dir' is missing")
    return {**args, "pretrained": str(Path(base).resolve()), "peft": str(adapter.resolve())}


def _number(value: Any) -> float | None:
    return round(float(value), 6) if isinstance(value, int | float) else None


def subject_metrics(results: dict[str, Any], benchmark: str) -> dict[str, Any]:
    """acc, acc_norm, their stderrs and the number of scored questions for one benchmark."""
    row = results["results"][task_name(benchmark)]
    out: dict[str, Any] = {}
    for metric in METRICS:
        out[metric] = _number(row.get(f"{metric},none"))
        out[f"{metric}_stderr"] = _number(row.get(f"{metric}_stderr,none"))
    samples = results.get("n-samples", {}).get(task_name(benchmark), {})
    out["n"] = int(samples.get("effective", 0))
    return out


def macro_average(subjects: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Unweighted mean over benchmarks: each subject counts once, as MMLU papers report."""
    macro: dict[str, Any] = {"n_subjects": len(subjects)}
    for metric in METRICS:
        values = [s[metric] for s in subjects.values() if s[metric] is not None]
        macro[metric] = round(sum(values) / len(values), 6) if values else None
    return macro


def lm_eval_version() -> str:
    return importlib.metadata.version("lm-eval")


def _evaluate(
    model: str | Path | Any, tasks: list[str], include: Path, limit: int | None, cfg: McqConfig
) -> dict[str, Any]:
    """`model`: a model directory (lm-eval's "hf", computing only the logits it scores:
    mcq_hf.py) or an lm-eval LM object."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    from medinstruct_eval.mcq_hf import last_logits_lm

    manager = TaskManager(include_path=str(include), include_defaults=False)
    if isinstance(model, str | Path):
        model = last_logits_lm(model_args(model, cfg.dtype), cfg.batch_size, cfg.device)
    results = lm_eval.simple_evaluate(
        model=model,
        tasks=tasks,
        num_fewshot=cfg.num_fewshot,
        batch_size=cfg.batch_size,
        device=cfg.device,
        limit=limit,
        log_samples=False,
        task_manager=manager,
    )
    if results is None:  # only non-zero ranks return None; we run one process
        raise McqError("lm_eval.simple_evaluate returned no results")
    return results


def run_mcq(
    model_dir: str | Path | Any,
    tasks: Sequence[str] | None = None,
    limit: int | None = None,
    *,
    data_dir: str | Path = "data/benchmarks",
    config: McqConfig | None = None,
) -> dict[str, Any]:
    """Score `model_dir` (or an lm-eval LM object) on the benchmarks in `tasks`
    (default: config.benchmarks).

    `limit` caps questions per benchmark (lm-eval takes the first `limit`
    documents of each file); it overrides config.limit when given.
    """
    cfg = config or McqConfig()
    present, skipped = split_available(tasks if tasks is not None else cfg.benchmarks, data_dir)
    if not present:
        raise McqError(f"{data_dir}: no benchmark data found ({'; '.join(skipped.values())})")
    limit = limit if limit is not None else cfg.limit
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mcq-tasks-") as tmp, torch_threads(cfg.torch_threads):
        include = write_run_tasks(present, data_dir, Path(tmp))
        raw = _evaluate(model_dir, [task_name(b) for b in present], include, limit, cfg)
    seconds = time.perf_counter() - started
    subjects = {name: subject_metrics(raw, name) for name in present}
    questions = sum(s["n"] for s in subjects.values())
    return {
        "subjects": subjects,
        "macro": macro_average(subjects),
        "skipped": skipped,
        "limit": limit,
        "num_fewshot": cfg.num_fewshot,
        "lm_eval_version": lm_eval_version(),
        "timing": {
            "seconds": round(seconds, 3),
            "questions": questions,
            "questions_per_second": round(questions / seconds, 3) if seconds > 0 else None,
        },
    }
