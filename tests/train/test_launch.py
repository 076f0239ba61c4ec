"""medinstruct_train.launch: params -> the command line, and a real 2-process CPU (gloo) run."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from medinstruct_core.params import ParamsError
from medinstruct_train.launch import DistributedParams, build_command, launch_params, main

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs" / "accelerate"
MODES = ("ddp", "fsdp", "deepspeed_zero3", "multi_node")


def _params(tmp_path: Path, train: dict) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"seed": 1, "train": {"max_length": 64, **train}}))
    return path


def test_none_runs_the_script_with_this_python():
    cmd = build_command(
        DistributedParams(), "pipelines/train.py", ["--out", "x"], config_dir=CONFIGS
    )
    assert cmd == [sys.executable, "pipelines/train.py", "--out", "x"]


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_has_a_shipped_accelerate_config(mode):
    config = yaml.safe_load((CONFIGS / f"{mode}.yaml").read_text())
    expected = {"ddp": "MULTI_GPU", "fsdp": "FSDP", "deepspeed_zero3": "DEEPSPEED"}
    assert config["distributed_type"] == expected.get(mode, "MULTI_GPU")
    assert config["mixed_precision"] == "no"  # precision is train.bf16's call


def test_fsdp_is_full_shard_with_a_full_state_dict():
    fsdp = yaml.safe_load((CONFIGS / "fsdp.yaml").read_text())["fsdp_config"]
    assert fsdp["fsdp_reshard_after_forward"] is True  # FULL_SHARD in FSDP2 terms
    assert fsdp["fsdp_auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP"
    assert fsdp["fsdp_state_dict_type"] == "FULL_STATE_DICT"


def test_ddp_goes_through_accelerate_launch_with_the_process_count():
    dist = DistributedParams(distributed="ddp", num_processes=4, main_process_port=29601)
    cmd = build_command(dist, "train.py", ["--a", "1"], config_dir=CONFIGS)
    assert cmd[:3] == [sys.executable, "-m", "accelerate.commands.launch"]
    assert cmd[3:9] == [
        "--config_file", str(CONFIGS / "ddp.yaml"), "--num_processes", "4",
        "--main_process_port", "29601",
    ]  # fmt: skip
    assert cmd[9:] == ["train.py", "--a", "1"]


def test_multi_node_passes_the_node_settings():
    dist = DistributedParams(
        distributed="multi_node", num_processes=16, num_machines=2, machine_rank=1,
        main_process_ip="10.0.0.5", main_process_port=29700,
    )  # fmt: skip
    cmd = build_command(dist, "train.py", [], config_dir=CONFIGS)
    flags = dict(zip(cmd[3:-1:2], cmd[4::2], strict=False))
    assert flags == {
        "--config_file": str(CONFIGS / "multi_node.yaml"), "--num_processes": "16",
        "--num_machines": "2", "--machine_rank": "1", "--main_process_ip": "10.0.0.5",
        "--main_process_port": "29700",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("train", "message"),
    [
        ({"num_processes": 2}, "num_processes > 1 needs distributed"),
        ({"distributed": "ddp", "num_machines": 2, "machine_rank": 2}, "machine_rank 2"),
        ({"distributed": "multi_node", "num_processes": 3, "num_machines": 2}, "multiple"),
        ({"distributed": "zero9"}, "key 'distributed'"),
    ],
)
def test_bad_launch_params_name_the_key(tmp_path, train, message):
    with pytest.raises(ParamsError, match=message):
        launch_params(_params(tmp_path, train))


def test_launch_params_ignore_the_other_train_keys(tmp_path):
    dist = launch_params(_params(tmp_path, {"distributed": "ddp", "num_processes": 2}))
    assert (dist.distributed, dist.num_processes) == ("ddp", 2)


def test_dry_run_prints_the_command_and_a_missing_config_is_an_error(tmp_path, capsys):
    params = _params(tmp_path, {"distributed": "ddp", "num_processes": 2})
    assert main(["--params", str(params), "--dry-run", "--", "--out", "x"]) == 2
    assert "accelerate config not found" in capsys.readouterr().err
    argv = ["--params", str(params), "--config-dir", str(CONFIGS), "--dry-run", "--", "--out", "x"]
    assert main(argv) == 0
    printed = capsys.readouterr().out.split()
    assert printed[-3:] == ["pipelines/train.py", "--out", "x"] and "2" in printed


@pytest.mark.slow
def test_two_cpu_processes_write_the_student_once_and_the_result_from_rank_0(tiny_base, tmp_path):
    """`launch` -> accelerate -> torchrun, 2 gloo processes on CPU, 2 optimizer steps."""
    cfg = {
        "distributed": "ddp", "num_processes": 2, "main_process_port": 29633,
        "max_steps": 2, "max_length": 96, "per_device_train_batch_size": 2,
        "gradient_accumulation_steps": 1, "warmup_ratio": 0.0, "seed": 2, "save_steps": 1,
        "checkpoint_dir": str(tmp_path / "cache"),
    }  # fmt: skip
    params = _params(tmp_path, cfg)
    script_args = [
        "--base", str(tiny_base), "--out", str(tmp_path / "student"),
        "--result", str(tmp_path / "result.json"), "--writes", str(tmp_path / "writes.log"),
        "--config", json.dumps(cfg), "--examples", "8",
    ]  # fmt: skip
    cmd = [
        sys.executable, "-m", "medinstruct_train.launch", "--params", str(params),
        "--config-dir", str(CONFIGS), "--script", str(REPO / "tests/train/sft_script.py"),
        "--", *script_args,
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "writes.log").read_text().split() == ["0"]  # the student, once, by rank 0
    result = json.loads((tmp_path / "result.json").read_text())
    assert (result["world_size"], result["steps"]) == (2, 2)
    assert (tmp_path / "student" / "adapter" / "adapter_model.safetensors").is_file()
    assert proc.stdout.count("no complete checkpoint") == 1  # printed by the main process only
