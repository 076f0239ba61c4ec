"""Stage `validate`: the Great Expectations quality gate over the curated examples.

Exit 0 when every suite passes, 1 when any fails (the summary goes to stderr),
2 when the input or params cannot be read. Data Docs HTML, plots and a metrics
JSON are written where asked, also on failure.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from medinstruct_core.cli import run_cli
from medinstruct_core.io import DataError
from medinstruct_core.params import ParamsError
from medinstruct_core.tracking import StageRun, stage_run
from medinstruct_curate.gate_config import load_gate_config

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--input", type=Path, required=True, help="examples JSONL")
    parser.add_argument("--params", type=Path, default=None, help="default: params.yaml if present")
    parser.add_argument("--section", default="validate")
    parser.add_argument("--docs-dir", type=Path, default=None, help="Data Docs HTML folder")
    parser.add_argument("--plots-dir", type=Path, default=None)
    parser.add_argument("--metrics-out", type=Path, default=None)
    parser.add_argument("--no-mlflow", action="store_true", help="do not log an MLflow run")
    return parser.parse_args(argv)


@contextlib.contextmanager
def tracked(args: argparse.Namespace, cfg: object) -> Iterator[StageRun | None]:
    if args.no_mlflow:
        yield None
        return
    with stage_run("validate", root=ROOT, config=cfg, inputs=[str(args.input)]) as run:  # type: ignore[arg-type]
        yield run


def log_result(run: StageRun, result: Any, args: argparse.Namespace) -> None:
    run.log_metrics({**result.metrics_json(), "gate_success": int(result.success)})
    run.set_tags({"medinstruct.gate": "passed" if result.success else "failed"})
    run.log_text("\n".join(result.summary()) + "\n", "gate_summary.txt")
    for folder in (args.docs_dir, args.plots_dir):
        if folder is not None:
            run.log_artifact(folder)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    default_params = ROOT / "params.yaml"
    params = args.params or (default_params if default_params.exists() else None)
    try:
        cfg = load_gate_config(params, args.section)
        # Imported here: GX takes seconds to import; a params typo should fail at once.
        from medinstruct_curate.gate_stage import run_validate_stage

        with tracked(args, cfg) as run:
            result = run_validate_stage(
                args.input, cfg, args.docs_dir, args.plots_dir, args.metrics_out
            )
            if run is not None:
                log_result(run, result, args)
    except (DataError, ParamsError) as exc:
        print(f"validate: {exc}", file=sys.stderr)
        return 2
    print("\n".join(result.summary()), file=sys.stdout if result.success else sys.stderr)
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(run_cli(main, "validate"))
