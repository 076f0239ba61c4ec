"""A team on one project: the smoke workspace travels through a DVC remote, a teammate's
clone re-runs LLM stages from the replies that came with the data (0 requests, $0),
and a comment in output-neutral code re-runs nothing.

Runs after test_smoke_dag.py on the same session workspace (conftest.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.conftest import STAGES, dvc

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(1800)]

LLM_STAGES = ("generate_instructions", "generate_responses")
NEUTRAL_EDITS = (
    "packages/core/src/medinstruct_core/tracking.py",
    "packages/core/src/medinstruct_core/stage.py",
    "packages/core/src/medinstruct_core/llm/ledger/__init__.py",
)


def git(workdir: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@localhost",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@localhost"}  # fmt: skip
    return subprocess.run(["git", *args], cwd=workdir, env=env, check=True, capture_output=True,
                          text=True).stdout  # fmt: skip


def tree_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


@pytest.fixture(scope="module")
def clone(smoke: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The README's team flow: a default remote, `git commit`, `dvc push`; a teammate
    clones and `dvc pull`s."""
    remote = tmp_path_factory.mktemp("remote")
    dvc(smoke, "remote", "add", "-d", "-f", "storage", str(remote))
    git(smoke, "add", "-A")
    git(smoke, "commit", "-qm", "smoke data", "--allow-empty")
    started = time.monotonic()
    dvc(smoke, "push")
    pushed = time.monotonic() - started
    teammate = tmp_path_factory.mktemp("teammate") / "project"
    git(smoke.parent, "clone", "-q", str(smoke), str(teammate))
    started = time.monotonic()
    dvc(teammate, "pull")
    pulled = time.monotonic() - started
    print(
        f"\ndvc push {pushed:.1f} s, pull {pulled:.1f} s, remote {tree_bytes(remote) / 1e6:.1f} MB"
    )
    return teammate


def test_after_a_pull_the_clone_is_up_to_date(clone: Path) -> None:
    out = dvc(clone, "status").stdout
    assert "Data and pipelines are up to date" in out, out
    for stage in LLM_STAGES:
        assert list((clone / "data" / "replies" / stage).glob("*.jsonl")), stage


@pytest.mark.parametrize("stage", LLM_STAGES)
def test_a_clone_reruns_an_llm_stage_from_the_replies_that_came_with_the_data(
    clone: Path, stage: str
) -> None:
    """The teammate's machine has no LLM cache: every reply comes from data/replies/."""
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    proc = subprocess.run(
        ["python", "-m", "dvc", "repro", "--force", "--single-item", stage],
        cwd=clone, env={**env, "MEDINSTRUCT_NO_MLFLOW": "1"}, capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    metrics = json.loads((clone / "metrics" / f"{stage}.json").read_text())
    assert metrics["llm.api_calls"] == 0, metrics
    assert metrics["llm.cost_usd"] == 0
    assert metrics["llm.replies_from_store"] == metrics["llm.requests"] > 0
    assert "replies came with the data" in proc.stdout
    # the same replies made the same outputs
    assert "Data and pipelines are up to date" in dvc(clone, "status").stdout


def test_comments_in_output_neutral_code_rerun_nothing(smoke: Path) -> None:
    """Tracking, the stage runner and the ledger shape no output: editing them sends 0 LLM
    requests and trains 0 steps, because no stage runs at all."""
    for rel in NEUTRAL_EDITS:
        with (smoke / rel).open("a") as handle:
            handle.write("\n# a comment a teammate added\n")
    proc = dvc(smoke, "repro")
    ran = [s for s in STAGES if f"Running stage '{s}'" in proc.stdout]
    assert ran == [], proc.stdout[-3000:]
    assert "Data and pipelines are up to date" in dvc(smoke, "status").stdout
