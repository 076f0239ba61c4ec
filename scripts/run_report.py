"""Summarise the newest `dvc repro` from its MLflow runs and DVC metrics into Markdown.

    python scripts/run_report.py [--out reports/default_run.md]

The README quotes this file, so its numbers come from a command, not from memory:
wall time per stage (MLflow run start/end), what each stage produced (metrics/*.json),
and three generated tasks verbatim (machine-written, unreviewed).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import mlflow

from medinstruct_core.io import write_text
from medinstruct_core.tracking import TAG, tracking_uri

ROOT = Path(__file__).resolve().parents[1]
STAGES = ["prepare_base_model", "prepare_benchmarks", "generate_instructions", "generate_responses",
          "curate", "validate", "train", "evaluate"]  # fmt: skip


def stage_runs(root: Path) -> tuple[str, dict[str, mlflow.entities.Run]]:
    """The newest run of each stage, and the name of the repro run they belong to."""
    mlflow.set_tracking_uri(tracking_uri(root))
    runs = mlflow.search_runs(
        search_all_experiments=True,
        filter_string=f"tags.`{TAG}.kind` = 'stage'",
        order_by=["attributes.start_time DESC"],
        output_format="list",
    )
    newest: dict[str, mlflow.entities.Run] = {}
    for run in runs:
        newest.setdefault(run.data.tags[f"{TAG}.stage"], run)
    parents = {r.data.tags.get("mlflow.parentRunId") for r in newest.values()}
    names = [mlflow.get_run(p).info.run_name for p in parents if p]
    return ", ".join(sorted(names)), newest


def metrics(name: str) -> dict:
    path = ROOT / "metrics" / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def timing_table(runs: dict[str, mlflow.entities.Run]) -> list[str]:
    lines = ["| stage | wall time |", "|---|---|"]
    total = 0.0
    for stage in STAGES:
        run = runs.get(stage)
        if run is None or run.info.end_time is None:
            continue
        seconds = (run.info.end_time - run.info.start_time) / 1000
        total += seconds
        lines.append(f"| {stage} | {seconds / 60:.1f} min ({seconds:.0f} s) |")
    lines.append(f"| **all stages** | **{total / 60:.1f} min** |")
    # What the user waits for: the stage spans plus each stage's process start and DVC's hashing.
    done = [r for r in runs.values() if r.info.end_time is not None]
    if done:
        span = (max(r.info.end_time for r in done) - min(r.info.start_time for r in done)) / 1000
        lines.append(
            f"| **first stage start to last stage end** | **{span / 60:.1f} min ({span:.0f} s)** |"
        )
    return lines


def outcome_lines() -> list[str]:
    gen, resp, cur = (
        metrics("generate_instructions"),
        metrics("generate_responses"),
        metrics("curate"),
    )
    val, train, ev = metrics("validate"), metrics("train"), metrics("evaluate")
    keys = ("calibration", "medinstruct_student_win_rate", "medinstruct_base_win_rate",
            "medinstruct_student_lc_win_rate", "medinstruct_base_lc_win_rate",
            "medinstruct_student_first_position_rate", "mcq_student_macro_acc", "mcq_base_macro_acc",
            "judge_trusted")  # fmt: skip
    picked = {k: v for k, v in ev.items() if any(k.startswith(p) for p in keys)}
    return [
        f"- generate_instructions: {json.dumps({k: v for k, v in gen.items() if k.startswith('rejects.') or k in ('tasks_kept', 'requests', 'stop_reason', 'keep_yield')})}",
        f"- generate_responses: {json.dumps({k: resp.get(k) for k in ('examples', 'truncated')})}",
        f"- curate: {json.dumps({k: cur.get(k) for k in ('n_in', 'n_kept', 'by_reason', 'yield')})}",
        f"- validate: {json.dumps({k: val.get(k) for k in ('gate', 'expectations_evaluated', 'expectations_failed', 'canonical_label_share')})}",
        f"- train: {json.dumps({k: train.get(k) for k in ('steps', 'n_train', 'final_loss', 'seconds_per_step')})}",
        f"- evaluate: {json.dumps(picked, sort_keys=True)}",
    ]


def sample_tasks(count: int = 3) -> list[str]:
    path = ROOT / "data" / "generated" / "instructions.jsonl"
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines()[:count]]
    lines = []
    for row in rows:
        lines.append(
            f"- *{row.get('type')} / {row.get('topic')} / {row.get('view')} / difficulty {row.get('difficulty')}*"
        )
        lines.append(f"  > {row['instruction']}")
        if row.get("input"):
            lines.append(f"  >\n  > Input: {row['input']}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "default_run.md")
    args = parser.parse_args(argv)
    repro, runs = stage_runs(ROOT)
    profile = os.environ.get("MEDINSTRUCT_PROFILE", "default")
    text = [f"# The newest `dvc repro` ({profile} profile; MLflow parent run: {repro})", "",
            *timing_table(runs), "", "## What each stage produced", "", *outcome_lines(), "",
            "## Three generated tasks, verbatim (machine-written, unreviewed)", "", *sample_tasks()]  # fmt: skip
    write_text(args.out, "\n".join(text) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
