"""`make rehearse`, CI-sized: the paper profile's data stages and gate on a few hundred tasks
against the simulated endpoint, priced and measured, with reports/rehearsal.md written.

The full 52k rehearsal (every stage, training and evaluation included) is `make rehearse`;
here the stages that talk to the endpoint run end to end through `dvc repro`, and the
report's numbers are checked against the ledger and the metrics files they come from.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(1200)]

ROOT = Path(__file__).resolve().parents[2]
N = 300
STAGES = ["generate_instructions", "generate_responses", "curate", "validate"]


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    base = tmp_path_factory.mktemp("rehearsal")
    report = base / "rehearsal.md"
    cmd = [sys.executable, "-m", "benchmarks.rehearse", "--n", str(N), "--dir", str(base / "copy"),
           "--report", str(report), "--fault-rate", "0.02", "--stages", *STAGES]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return report, json.loads(report.with_suffix(".json").read_text())


def test_every_stage_ran_and_was_measured(rehearsal: tuple[Path, dict]) -> None:
    _, raw = rehearsal
    runs = raw["runs"]
    assert [r["name"] for r in runs] == STAGES and all(r["rc"] == 0 for r in runs)
    assert all(r["wall_s"] > 0 and r["cpu_s"] > 0 and r["peak_rss_mb"] > 50 for r in runs)
    assert runs[0]["served"]["teacher"]["requests"] > 0
    assert (
        runs[1]["served"]["responder"]["requests"]
        == raw["metrics"]["generate_responses"]["examples"]
    )


def test_the_run_made_the_data_and_passed_the_gate(rehearsal: tuple[Path, dict]) -> None:
    _, raw = rehearsal
    metrics = raw["metrics"]
    assert metrics["generate_instructions"]["tasks_kept"] == N
    assert metrics["generate_responses"]["examples"] == N
    assert metrics["validate"]["gate"] == "passed"


def test_the_ledger_priced_the_simulator_at_the_profiles_prices(
    rehearsal: tuple[Path, dict],
) -> None:
    _, raw = rehearsal
    by_role = {row["role"]: row for row in raw["spend"]}
    served = raw["endpoint"]["by_kind"]
    assert set(by_role) == {"teacher", "responder"}
    assert (
        by_role["teacher"]["model"] == "gpt-4" and by_role["responder"]["model"] == "gpt-3.5-turbo"
    )
    for role in ("teacher", "responder"):  # what the client paid for is what the endpoint served
        assert by_role[role]["prompt_tokens"] == served[role]["prompt_tokens"]
        assert by_role[role]["completion_tokens"] == served[role]["completion_tokens"]
    teacher = by_role["teacher"]
    expected = (teacher["prompt_tokens"] * 30.0 + teacher["completion_tokens"] * 60.0) / 1e6
    assert teacher["usd"] == pytest.approx(expected)
    assert 0 < raw["spend_total"] <= raw["budget"] == 1500.0


def test_the_report_shows_time_memory_tokens_cost_and_the_gate(
    rehearsal: tuple[Path, dict],
) -> None:
    report, _ = rehearsal
    text = report.read_text()
    for heading in ("## Time and memory per stage", "## Requests and tokens per role",
                    "## What it would have cost", "## What the run produced"):  # fmt: skip
        assert heading in text
    assert f"**{N:,} tasks kept**" in text
    assert "validate (the gate): **passed**" in text
    assert "| every role at gpt-4o-mini |" in text
