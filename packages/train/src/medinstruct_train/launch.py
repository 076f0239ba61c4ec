"""Start the train script the way `train.distributed` says: one process, or `accelerate launch`.

    python -m medinstruct_train.launch --params params.yaml -- --train data/curated/train.jsonl ...

reads `train.distributed` (and the process/node keys) from params.yaml and
execs either `python pipelines/train.py <args>` or

    python -m accelerate.commands.launch --config_file configs/accelerate/<mode>.yaml
        --num_processes N [--num_machines M --machine_rank R --main_process_ip IP
        --main_process_port P] pipelines/train.py <args>

`exec` (not a child process) keeps DVC's signals and exit status end to end.
The accelerate YAMLs hold what does not vary per run (sharding, wrap policy,
ZeRO stage); params.yaml holds what does (process and node counts), so a DVC
experiment can change them with `-S train.num_processes=8`.

Only pydantic and the standard library are imported: deciding how to start
must not cost a torch import.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from medinstruct_core.params import Config, ParamsError, parse_section, read_params

Mode = Literal["none", "ddp", "fsdp", "deepspeed_zero3", "multi_node"]
DEFAULT_SCRIPT = "pipelines/train.py"
CONFIG_SUBDIR = Path("configs") / "accelerate"


class DistributedParams(Config):
    """The launch keys of `train:`; `TrainConfig` inherits them so one section holds both."""

    distributed: Mode = "none"
    num_processes: int = Field(1, ge=1, description="total processes over all machines")
    num_machines: int = Field(1, ge=1)
    machine_rank: int = Field(0, ge=0)
    main_process_ip: str = Field("127.0.0.1", min_length=1)
    main_process_port: int = Field(29500, ge=1, le=65535)

    @model_validator(mode="after")
    def _consistent(self) -> DistributedParams:
        if self.distributed == "none" and self.num_processes > 1:
            raise ValueError(
                "num_processes > 1 needs distributed: ddp | fsdp | deepspeed_zero3 | multi_node"
            )
        if self.machine_rank >= self.num_machines:
            raise ValueError(
                f"machine_rank {self.machine_rank} must be < num_machines {self.num_machines}"
            )
        if self.num_processes % self.num_machines:
            raise ValueError("num_processes (the total) must be a multiple of num_machines")
        return self


def launch_params(params_path: str | Path) -> DistributedParams:
    """The launch keys of `train:`; the other train keys are left to the train script to check."""
    section = read_params(params_path).get("train") or {}
    if not isinstance(section, dict):
        raise ParamsError(f"{params_path}: train: expected a mapping")
    keys = DistributedParams.model_fields
    picked = {key: value for key, value in section.items() if key in keys}
    return parse_section(picked, DistributedParams, where=f"{params_path}: train")


def accelerate_config(mode: Mode, config_dir: Path) -> Path:
    """configs/accelerate/<mode>.yaml; its absence is an error naming the file."""
    path = config_dir / f"{mode}.yaml"
    if not path.is_file():
        raise ParamsError(f"train.distributed={mode!r}: accelerate config not found: {path}")
    return path


def node_args(dist: DistributedParams) -> list[str]:
    """Flags that place this machine in a multi-machine job (empty on one machine)."""
    if dist.distributed != "multi_node" and dist.num_machines == 1:
        return []
    return [
        "--num_machines", str(dist.num_machines),
        "--machine_rank", str(dist.machine_rank),
        "--main_process_ip", dist.main_process_ip,
        "--main_process_port", str(dist.main_process_port),
    ]  # fmt: skip


def build_command(
    dist: DistributedParams,
    script: str,
    script_args: Sequence[str],
    *,
    config_dir: Path,
    python: str = sys.executable,
) -> list[str]:
    """The argv to exec: the plain script, or the script under `accelerate launch`."""
    if dist.distributed == "none":
        return [python, script, *script_args]
    launcher = [python, "-m", "accelerate.commands.launch"]
    config = ["--config_file", str(accelerate_config(dist.distributed, config_dir))]
    procs = ["--num_processes", str(dist.num_processes)]
    if dist.distributed != "multi_node":
        # a single machine: the port still matters when two jobs share a host
        procs += ["--main_process_port", str(dist.main_process_port)]
    return [*launcher, *config, *procs, *node_args(dist), script, *script_args]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m medinstruct_train.launch",
        description="Run the train script as train.distributed says.",
    )
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--script", default=DEFAULT_SCRIPT, help="the training entry point")
    parser.add_argument(
        "--config-dir", type=Path, default=None, help="default: <params dir>/configs/accelerate"
    )
    parser.add_argument("--dry-run", action="store_true", help="print the command, do not run it")
    parser.add_argument("script_args", nargs=argparse.REMAINDER, help="-- then the script's args")
    args = parser.parse_args(argv)
    if args.script_args[:1] == ["--"]:
        args.script_args = args.script_args[1:]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        dist = launch_params(args.params)
        config_dir = args.config_dir or args.params.resolve().parent / CONFIG_SUBDIR
        command = build_command(dist, args.script, args.script_args, config_dir=config_dir)
    except ParamsError as exc:
        print(f"launch: {exc}", file=sys.stderr)
        return 2
    print(f"launch ({dist.distributed}): {shlex.join(command)}", file=sys.stderr, flush=True)
    if args.dry_run:
        print(shlex.join(command))
        return 0
    os.execv(command[0], command)
    return 0  # not reached: exec replaces this process


if __name__ == "__main__":
    sys.exit(main())
