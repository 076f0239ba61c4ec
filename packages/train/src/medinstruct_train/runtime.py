"""Process-level helpers for the train entry points: DDP rank, one MLflow run, the loss CSV.

Under `accelerate launch --num_processes N` every process runs the entry point.
Only rank 0 may open the MLflow run and write metrics files, or one stage
would show up N times; the other ranks get a `NullRun` with the same methods.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from medinstruct_core.io import write_text
from medinstruct_core.params import ParamsError, read_params


def is_main_process() -> bool:
    """True on rank 0, and in a plain single-process run (no RANK set)."""
    return int(os.environ.get("RANK", "0")) == 0


class NullRun:
    """Stands in for medinstruct_core.tracking.StageRun on non-main ranks: every call is a no-op."""

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


@contextlib.contextmanager
def main_process_run(stage: str, *, root: Path, config: Any, inputs: list[str]) -> Iterator[Any]:
    """`stage_run` on rank 0, a NullRun elsewhere."""
    if not is_main_process():
        yield NullRun()
        return
    from medinstruct_core.tracking import stage_run

    with stage_run(stage, root=root, config=config, inputs=inputs) as run:
        yield run


def top_level_seed(params_path: str | Path, default: int = 42) -> int:
    """The project-wide `seed:` key of params.yaml."""
    value = read_params(params_path).get("seed", default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParamsError(f"{params_path}: key 'seed': expected an integer, got {value!r}")
    return value


def write_loss_csv(path: str | Path, rows: Sequence[Mapping[str, float]]) -> None:
    """`step,loss` rows, the format `dvc plots` reads."""
    lines = ["step,loss"] + [f"{int(row['step'])},{float(row['loss']):.6g}" for row in rows]
    write_text(path, "\n".join(lines) + "\n")


def relative(path: Path, root: Path) -> str:
    """`path` relative to the repo root when inside it (how DVC names it), else as given."""
    resolved = path.resolve()
    return str(resolved.relative_to(root)) if resolved.is_relative_to(root) else str(path)
