"""Shared integration fixtures: one smoke workspace, tracked by a real `mlflow server`.

The smoke DAG is the expensive part of `make test` (~6 min on 2 idle cores), so it
runs once per session and every integration module that needs a reproduced
workspace shares it: test_smoke_dag.py first, then test_team.py, which pushes it to
a DVC remote and edits its code.

The tracking server is started with the README's own command (`make mlflow-server`),
so the stages' runs, datasets, registered student and `champion` alias all go over
HTTP, as they do for a team.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STAGES = [
    "prepare_base_model", "prepare_benchmarks", "generate_instructions", "generate_responses",
    "curate", "validate", "train", "evaluate",
]  # fmt: skip
SERVER_START_S = 120


def dvc(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=workdir, capture_output=True, text=True,
        check=check,
    )  # fmt: skip


def smoke_run(workdir: Path, *targets: str, tracking_uri: str | None = None) -> None:
    """`make smoke` in `workdir`: a scratch copy with its own cold LLM cache, tracked by
    `tracking_uri` (default: its own sqlite store)."""
    uri = tracking_uri or f"sqlite:///{workdir / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    env.pop("OPENAI_API_KEY", None)
    env.pop("OPENAI_BASE_URL", None)  # the smoke DAG must run on the embedded default
    cmd = [sys.executable, "-m", "medinstruct_core.profiles", "smoke-run", str(workdir)]
    cmd += [arg for target in targets for arg in ("--target", target)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    (ROOT / ".pytest_cache").mkdir(exist_ok=True)
    (ROOT / ".pytest_cache" / f"smoke-dag-{workdir.name}.log").write_text(proc.stdout + proc.stderr)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-6000:]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mlflow server exited {proc.returncode}: {log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(
        f"mlflow server not healthy after {SERVER_START_S} s: {log.read_text()[-3000:]}"
    )


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`make mlflow-server` on a free loopback port with a scratch store; yields its URL."""
    where = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    log = where / "server.log"
    cmd = ["make", "-s", "mlflow-server", f"MLFLOW_BACKEND=sqlite:///{where / 'mlflow.db'}",
           f"MLFLOW_ARTIFACTS={where / 'artifacts'}", f"MLFLOW_PORT={port}", "MLFLOW_WORKERS=1"]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc, log)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def first_lock(workdir: Path) -> Path:
    """Where the `smoke` fixture keeps the dvc.lock of its first run (outside the workspace)."""
    return workdir.with_name(f"{workdir.name}-first-dvc.lock")


@pytest.fixture(scope="session")
def smoke(tmp_path_factory: pytest.TempPathFactory, mlflow_server: str) -> Path:
    """The whole smoke DAG, once per session, tracked by the shared server."""
    workdir = tmp_path_factory.mktemp("smoke")
    smoke_run(workdir, tracking_uri=mlflow_server)
    # Later tests change this workspace (`dvc exp run -S ...`); the two-cold-runs check
    # compares against the lock of this first, untouched run.
    shutil.copyfile(workdir / "dvc.lock", first_lock(workdir))
    os.environ["MLFLOW_TRACKING_URI"] = mlflow_server
    return workdir
