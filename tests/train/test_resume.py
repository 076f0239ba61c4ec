"""Checkpoint cache and resume: key, completeness, and a real kill -9 mid-run."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from medinstruct_train.checkpoints import (
    MARKER,
    drop_incomplete,
    last_complete,
    rows_md5,
    run_key,
)

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tests" / "train" / "sft_script.py"
# fp32 on CPU, same seeds and restored RNG/data order: a resumed run repeats the
# uninterrupted one up to float noise from a reloaded optimizer state.
LOSS_ATOL = 1e-5
WEIGHT_ATOL = 1e-6


def _checkpoint(run_dir: Path, step: int, complete: bool) -> Path:
    path = run_dir / f"checkpoint-{step}"
    path.mkdir(parents=True)
    (path / "trainer_state.json").write_text("{}")
    if complete:
        (path / MARKER).write_text("{}")
    return path


def test_last_complete_skips_and_drop_incomplete_deletes_half_written(tmp_path):
    _checkpoint(tmp_path, 2, complete=True)
    _checkpoint(tmp_path, 10, complete=True)
    half = _checkpoint(tmp_path, 12, complete=False)
    (tmp_path / "checkpoint-x").mkdir()  # not a checkpoint name: ignored
    assert last_complete(tmp_path).name == "checkpoint-10"  # numeric, not lexical, order
    assert drop_incomplete(tmp_path) == [half] and not half.exists()
    assert last_complete(tmp_path / "missing") is None


def test_run_key_changes_with_base_data_and_training_params_only():
    params = {"learning_rate": 1e-4, "max_steps": 5, "save_steps": 2, "checkpoint_dir": "a"}
    key = run_key("b" * 32, "d" * 32, params)
    assert len(key) == 16 and key == run_key("b" * 32, "d" * 32, dict(params))
    assert key != run_key("c" * 32, "d" * 32, params)
    assert key != run_key("b" * 32, "e" * 32, params)
    assert key != run_key("b" * 32, "d" * 32, {**params, "learning_rate": 2e-4})
    assert key == run_key("b" * 32, "d" * 32, {**params, "save_steps": 7, "checkpoint_dir": "b"})


def test_rows_md5_depends_on_content_and_order():
    rows = [{"prompt": "p1", "completion": "c1"}, {"prompt": "p2", "completion": "c2"}]
    assert rows_md5(rows) == rows_md5([dict(r) for r in rows])
    assert rows_md5(rows) != rows_md5(rows[::-1])


def _command(tiny_base: Path, work: Path, cfg: dict) -> list[str]:
    return [
        sys.executable, str(SCRIPT), "--base", str(tiny_base), "--out", str(work / "student"),
        "--result", str(work / "result.json"), "--writes", str(work / "writes.log"),
        "--config", json.dumps(cfg), "--examples", "8",
    ]  # fmt: skip


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


def _run(tiny_base: Path, work: Path, cfg: dict) -> subprocess.CompletedProcess:
    work.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        _command(tiny_base, work, cfg), cwd=work, env=_env(), capture_output=True,
        text=True, timeout=300, check=True,
    )  # fmt: skip


def _kill_after_checkpoint(tiny_base: Path, work: Path, cfg: dict, step: int) -> None:
    """Start a run, SIGKILL it as soon as checkpoint-<step> is complete (bounded wait)."""
    work.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        _command(tiny_base, work, cfg), cwd=work, env=_env(),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 240
    try:
        while not list(Path(cfg["checkpoint_dir"]).glob(f"*/checkpoint-{step}/{MARKER}")):
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "no checkpoint within 240 s"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)


def _adapter(work: Path):
    from safetensors.torch import load_file

    return load_file(work / "student" / "adapter" / "adapter_model.safetensors")


@pytest.mark.slow
def test_kill_9_then_rerun_resumes_and_matches_an_uninterrupted_run(tiny_base, tmp_path):
    """Uninterrupted vs killed at a random step and rerun: same loss curve and weights."""
    import torch

    cfg = {
        "max_steps": 8, "max_length": 128, "per_device_train_batch_size": 2,
        "gradient_accumulation_steps": 1, "warmup_ratio": 0.0, "seed": 5,
        "save_steps": 1, "save_total_limit": 2,
    }  # fmt: skip
    kill_step = random.Random(20261130).randint(2, 6)
    started = time.perf_counter()
    _run(tiny_base, tmp_path / "a", {**cfg, "checkpoint_dir": str(tmp_path / "cache_a")})
    uninterrupted = time.perf_counter() - started
    cache_b = tmp_path / "cache_b"
    _kill_after_checkpoint(
        tiny_base, tmp_path / "b", {**cfg, "checkpoint_dir": str(cache_b)}, kill_step
    )
    assert not (tmp_path / "b" / "student").exists()
    started = time.perf_counter()
    rerun = _run(tiny_base, tmp_path / "b", {**cfg, "checkpoint_dir": str(cache_b)})
    resumed = time.perf_counter() - started

    line = next(ln for ln in rerun.stdout.splitlines() if "resuming from" in ln)
    resumed_step = int(line.rsplit("step ", 1)[1].rstrip(")"))
    assert kill_step <= resumed_step < 8, line
    a = json.loads((tmp_path / "a" / "result.json").read_text())
    b = json.loads((tmp_path / "b" / "result.json").read_text())
    assert b["resumed_from_step"] == resumed_step and a["resumed_from_step"] == 0
    assert [p["step"] for p in b["loss_history"]] == list(range(1, 9))
    for pa, pb in zip(a["loss_history"], b["loss_history"], strict=True):
        assert abs(pa["loss"] - pb["loss"]) < LOSS_ATOL, (pa, pb)
    wa, wb = _adapter(tmp_path / "a"), _adapter(tmp_path / "b")
    assert wa.keys() == wb.keys()
    assert all(torch.allclose(wa[k], wb[k], atol=WEIGHT_ATOL) for k in wa)
    assert not any(cache_b.iterdir()), "the cache of a finished run is removed"
    print(f"\nresume: killed after step {kill_step}, resumed at {resumed_step}; "
          f"uninterrupted {uninterrupted:.1f} s, resumed run {resumed:.1f} s")  # fmt: skip
