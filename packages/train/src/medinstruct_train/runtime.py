"""Process-level helpers for the train entry point: the rank test and the loss CSV.

The stage runner (medinstruct_core.stage) owns the MLflow run and the metrics file;
under `accelerate launch` only rank 0 logs and writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from medinstruct_core.io import write_text
from medinstruct_core.stage import is_main_process

__all__ = ["is_main_process", "write_loss_csv"]


def write_loss_csv(path: str | Path, rows: Sequence[Mapping[str, float]]) -> None:
    """`step,loss` rows, the format `dvc plots` reads."""
    lines = ["step,loss"] + [f"{int(row['step'])},{float(row['loss']):.6g}" for row in rows]
    write_text(path, "\n".join(lines) + "\n")
