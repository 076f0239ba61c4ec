"""Resumable training: checkpoints in a cache keyed by what the run depends on.

Checkpoints (weights, optimizer, scheduler, RNG states, trainer state) go to
`<checkpoint_dir>/<key>/checkpoint-<step>/`, outside every DVC out, so a
crashed `dvc repro` leaves nothing half-written in `models/` and the next run
of the *same* training finds them. The key hashes the base model (DVC's
directory md5), the training rows and the train params that shape the run, so
a changed input never resumes from a stale checkpoint.

transformers writes a checkpoint file by file, so a `kill -9` can leave a
directory without its optimizer or RNG state. `CompleteMarker` writes
`medinstruct_complete.json` after the Trainer's `on_save`, on the main process
once every rank is done; only checkpoints carrying it are resumed from, and
the others are deleted first.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from medinstruct_core.io import write_json

MARKER = "medinstruct_complete.json"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
# Keys that change where or how often checkpoints are written, not what is trained.
KEY_EXCLUDED = frozenset({
    "checkpoint_dir", "save_steps", "save_total_limit", "resume", "keep_checkpoints",
    "logging_steps", "machine_rank", "main_process_ip", "main_process_port",
})  # fmt: skip


def rows_md5(rows: Iterable[Mapping[str, str]]) -> str:
    """md5 of the training rows as canonical JSON lines (what the trainer actually sees)."""
    digest = hashlib.md5()
    for row in rows:
        digest.update(json.dumps(row, sort_keys=True, ensure_ascii=False).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def run_key(base_md5: str, data_md5: str, train_params: Mapping[str, Any]) -> str:
    """16 hex digits identifying one training run: same key, same run, safe to resume."""
    kept = {k: v for k, v in sorted(train_params.items()) if k not in KEY_EXCLUDED}
    payload = json.dumps(
        {"base": base_md5, "data": data_md5, "train": kept}, sort_keys=True, default=str
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def checkpoint_step(path: Path) -> int | None:
    match = _CHECKPOINT.match(path.name)
    return int(match.group(1)) if match and path.is_dir() else None


def checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """(step, dir) of every checkpoint directory, complete or not, by step."""
    if not run_dir.is_dir():
        return []
    found = ((checkpoint_step(p), p) for p in run_dir.iterdir())
    return sorted((step, p) for step, p in found if step is not None)


def is_complete(checkpoint: Path) -> bool:
    return (checkpoint / MARKER).is_file() and (checkpoint / "trainer_state.json").is_file()


def drop_incomplete(run_dir: Path) -> list[Path]:
    """Delete checkpoints a crash left half-written; return what was deleted."""
    dropped = [path for _, path in checkpoints(run_dir) if not is_complete(path)]
    for path in dropped:
        shutil.rmtree(path, ignore_errors=True)
    return dropped


def last_complete(run_dir: Path) -> Path | None:
    """The newest checkpoint that was fully written, or None (start from scratch)."""
    complete = [path for _, path in checkpoints(run_dir) if is_complete(path)]
    return complete[-1] if complete else None


class CompleteMarker(TrainerCallback):
    """Mark a checkpoint complete once the Trainer (every rank) has finished writing it."""

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        from accelerate import PartialState

        partial = PartialState()
        partial.wait_for_everyone()  # other ranks write their RNG state / shards too
        if state.is_world_process_zero:
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if folder.is_dir():
                write_json(folder / MARKER, {"step": state.global_step, "epoch": state.epoch})
        partial.wait_for_everyone()
