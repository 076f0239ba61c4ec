"""A minimal train entry point for the subprocess tests (DDP launch, kill -9 and resume).

Not the project's stage script (pipelines/train.py): it calls the package API
directly, so these tests pin medinstruct_train's behaviour on their own. Every
call to `save_student` is appended to `--writes` with the process rank, and the
result is written by the main process only.

    python tests/train/sft_script.py --base B --out O --result R.json --writes W.log \\
        --config '{"max_steps": 4, ...}' --examples 8
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from medinstruct_core.io import write_json
from medinstruct_train import sft
from medinstruct_train.runtime import is_main_process
from tests.train.conftest import make_examples


def count_writes(log: Path) -> None:
    """Wrap sft.save_student so each call appends this process's rank to `log`."""
    original = sft.save_student

    def recording(*args, **kwargs):
        with log.open("a", encoding="utf-8") as handle:
            handle.write(f"{os.environ.get('RANK', '0')}\n")
        return original(*args, **kwargs)

    sft.save_student = recording


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    for name in ("--base", "--out", "--result", "--writes"):
        parser.add_argument(name, type=Path, required=True)
    parser.add_argument("--config", required=True, help="TrainConfig as JSON")
    parser.add_argument("--examples", type=int, default=8)
    args = parser.parse_args(argv)
    count_writes(args.writes)
    cfg = sft.TrainConfig.model_validate(json.loads(args.config))
    result = sft.train_sft(cfg, args.base, make_examples(args.examples), args.out)
    if is_main_process():
        write_json(args.result, result.model_dump())
    return 0


if __name__ == "__main__":
    sys.exit(main())
