"""Bad input fails a stage at once with one line naming the file, record, key or URL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def run_stage(tmp_path: Path, params: dict, seeds: Path) -> subprocess.CompletedProcess[str]:
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    env.pop("OPENAI_API_KEY", None)
    env.pop("OPENAI_BASE_URL", None)
    return subprocess.run(
        [sys.executable, str(ROOT / "pipelines" / "generate_instructions.py"),
         "--params", str(tmp_path / "params.yaml"), "--seeds", str(seeds),
         "--out", str(tmp_path / "out.jsonl"), "--metrics", str(tmp_path / "m.json"),
         "--plots-dir", str(tmp_path / "plots"), "--replies", str(tmp_path / "replies")],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip


@pytest.fixture
def params(tmp_path: Path) -> dict:
    data = yaml.safe_load((ROOT / "params.yaml").read_text())
    data["llm"]["client"].update(cache_dir=str(tmp_path / "cache"), max_retries=0)
    return data


def test_malformed_seed_file_names_file_line_and_field(tmp_path: Path, params: dict) -> None:
    seeds = tmp_path / "seeds.jsonl"
    good = (ROOT / "data" / "seeds" / "seed_tasks.jsonl").read_text().splitlines()[0]
    seeds.write_text(good + "\n" + good.replace('"difficulty": ', '"difficulty": 9, "x": ') + "\n")
    proc = run_stage(tmp_path, params, seeds)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "seeds.jsonl" in proc.stderr and "2" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out.jsonl").exists()


def test_params_typo_names_the_key(tmp_path: Path, params: dict) -> None:
    params["generate_instructions"]["num_taks"] = 5
    proc = run_stage(tmp_path, params, ROOT / "data" / "seeds" / "seed_tasks.jsonl")
    assert proc.returncode == 2
    assert "unknown key 'num_taks'" in proc.stderr and "Traceback" not in proc.stderr


def test_unreachable_endpoint_is_a_clear_error_not_a_hang(tmp_path: Path, params: dict) -> None:
    params["llm"]["teacher"]["endpoint"] = "http://127.0.0.1:9/v1"
    proc = run_stage(tmp_path, params, ROOT / "data" / "seeds" / "seed_tasks.jsonl")
    assert proc.returncode == 2
    assert "http://127.0.0.1:9/v1" in proc.stderr and "unreachable" in proc.stderr
    assert not (tmp_path / "out.jsonl").exists()


def test_estimate_line_first_and_no_request_when_the_budget_cannot_fit(
    tmp_path: Path, params: dict
) -> None:
    """A paid stage prints its estimate, then stops before its first request (exit 2)."""
    params["llm"]["teacher"]["endpoint"] = "http://127.0.0.1:9/v1"  # nothing listens there
    params["llm"]["client"]["budget_usd"] = 0.0001
    proc = run_stage(tmp_path, params, ROOT / "data" / "seeds" / "seed_tasks.jsonl")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "generate_instructions: estimate: " in proc.stderr
    assert "requests to gpt-4o" in proc.stderr and "budget left $0.0001" in proc.stderr
    assert "the low end of the estimate" in proc.stderr
    assert "unreachable" not in proc.stderr  # it never tried the endpoint
    assert not (tmp_path / "out.jsonl").exists()


def test_unpaid_stage_says_so_then_goes_on(tmp_path: Path, params: dict) -> None:
    params["llm"]["teacher"]["endpoint"] = "http://127.0.0.1:9/v1"
    params["llm"]["client"]["prices"] = {}  # an unpriced model on a local URL costs nothing
    params["llm"]["client"]["budget_usd"] = 0.0001
    proc = run_stage(tmp_path, params, ROOT / "data" / "seeds" / "seed_tasks.jsonl")
    assert proc.returncode == 2
    assert "generate_instructions: estimate: no paid LLM requests" in proc.stderr
    assert "unreachable" in proc.stderr  # the budget did not stop it: it tried the endpoint
