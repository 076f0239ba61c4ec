"""The evaluation report: opening sentence, leaderboard, paired table, trust, MCQ, determinism."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from medinstruct_eval import eval_report
from medinstruct_eval.champion import Decision
from medinstruct_eval.eval_report import ReportData
from medinstruct_eval.leaderboard import PositionCheck, Rate, Row
from medinstruct_eval.paired import Paired

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TOO_FEW = "too few items (3 < 30)"


def _row(ref: str, cand: str, win: float, invalid: float = 0.0, lc: Rate | None = None) -> Row:
    return Row(
        eval_set=ref, candidate=cand, n=40, judgements=80,
        win_rate=Rate(win, (win - 0.1, win + 0.1)),
        lc_win_rate=lc or Rate(win - 0.02, (win - 0.12, win + 0.08)),
        invalid_rate=invalid, first_position=Rate(0.52, (0.41, 0.63)),
    )  # fmt: skip


def _paired(delta: float, ci: tuple[float, float], p: float, n: int = 40) -> Paired:
    return Paired("student", "base", n, delta, ci, p, better=20, worse=8, same=12)


def _data(position: float = 0.52, invalid: float = 0.0, calibration: Any = None) -> ReportData:
    mcq = {
        "base": {"subjects": {"mmlu_anatomy": {"acc": 0.3, "acc_stderr": 0.04, "n": 135}},
                 "macro": {"acc": 0.3}, "skipped": {"pubmedqa": "not found"}},
        "student": {"subjects": {"mmlu_anatomy": {"acc": 0.4, "acc_stderr": 0.04, "n": 135}},
                    "macro": {"acc": 0.4}},
        "gpt": {"not_scored": "/completions answered HTTP 404 (no log-probabilities)"},
    }  # fmt: skip
    return ReportData(
        rows=[_row("medinstruct", "base", 0.3), _row("medinstruct", "student", 0.625, invalid),
              _row("gpt-4", "student", 0.55, lc=Rate(None, note=TOO_FEW))],
        paired={"medinstruct": [_paired(0.12, (0.03, 0.21), 0.004)]},
        positions=[PositionCheck("qwen", Rate(position, (position - 0.1, position + 0.1)), 60, 0.3, 0.7)],
        calibration=calibration or {"passed": True, "accuracy": 0.95, "threshold": 0.8, "n": 20},
        mcq=mcq, main_set="medinstruct",
        candidates=[{"name": "gpt", "kind": "endpoint", "source": "http://h/v1 (gpt)",
                     "template": "chat_template"}],
    )  # fmt: skip


@pytest.fixture(scope="module")
def full_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """One full report (four PNGs; rendering is the slow part, so it is shared)."""
    out = tmp_path_factory.mktemp("report")
    return out, eval_report.write_report(out, _data())


def test_report_opens_with_what_the_data_supports(full_report: tuple[Path, dict[str, Any]]) -> None:
    out, result = full_report
    lines = (out / "report.md").read_text().splitlines()
    assert lines[:3] == [
        "# Evaluation report", "",
        "student beats base by +0.12 [+0.03, +0.21] on 40 items (sign test p = 0.004).",
    ]  # fmt: skip
    assert result["headline"] == [lines[2]]
    assert lines[4].startswith("The judge can be trusted: it passed calibration and on the real")


def test_leaderboard_table_and_figures(full_report: tuple[Path, dict[str, Any]]) -> None:
    out, result = full_report
    assert result["judge_trusted"] is True and result["problems"] == []
    assert sorted(Path(p).name for p in result["figures"]) == [
        "judge_position.png", "mcq_accuracy.png", "paired.png", "win_rates.png",
    ]  # fmt: skip
    for name in result["figures"]:
        assert Path(name).read_bytes().startswith(PNG_MAGIC)
    text = (out / "report.md").read_text()
    assert (
        "| medinstruct | student | 0.625 [0.525, 0.725] | 0.605 [0.505, 0.705] | 40 | 0.0% "
        "| 52.0% [41.0%, 63.0%] |" in text
    )
    assert f"| gpt-4 | student | 0.550 [0.450, 0.650] | {TOO_FEW} | 40 |" in text
    assert "| medinstruct | per-item score difference | student vs base | +0.120 [+0.030, +0.210] " \
           "| 40 | 20/8/12 | 0.004 | student better |" in text  # fmt: skip
    assert "| mmlu_anatomy | 0.300 ± 0.040 (135) | 0.400 ± 0.040 (135) |" in text
    assert "- candidate gpt: /completions answered HTTP 404 (no log-probabilities)" in text
    assert "- pubmedqa: not found" in text
    assert "No promotion decision: no registry was consulted" in text
    assert "| gpt | endpoint | `http://h/v1 (gpt)` | chat_template |" in text
    rows = json.loads((out / "leaderboard.json").read_text())
    assert len(rows) == 3 and rows[2]["lc_win_rate"] is None
    assert rows[2]["lc_win_rate_note"] == TOO_FEW


def test_output_is_deterministic(full_report: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    first, _ = full_report
    eval_report.write_report(tmp_path, _data())
    files = sorted(p.name for p in first.iterdir())
    assert files == sorted(p.name for p in tmp_path.iterdir()) and len(files) == 6
    for name in files:
        assert (first / name).read_bytes() == (tmp_path / name).read_bytes(), name


def test_no_detectable_difference_is_said_plainly() -> None:
    data = _data()
    data.paired = {"medinstruct": [_paired(1 / 3, (-1.0, 1.0), 1.0, n=3)]}
    assert eval_report.headline(data) == [
        "No detectable difference between student and base at n = 3 "
        "(the interval spans \u22121.00 to +1.00; sign test p = 1)."
    ]


def test_headline_without_a_comparison_names_the_best_row() -> None:
    data = _data()
    data.paired = {}
    assert eval_report.headline(data) == [
        "No paired comparison (no candidate named student); the highest win rate is student's, "
        "0.625 [0.525, 0.725] against the medinstruct references on 40 items."
    ]


def test_position_bias_on_real_verdicts_makes_the_judge_untrusted(tmp_path: Path) -> None:
    result = eval_report.write_report(tmp_path, _data(position=0.83))
    assert result["judge_trusted"] is False
    assert result["problems"] == [
        "Judge 'qwen' chose the first-shown answer in 83.0% [73.0%, 93.0%] of its 60 decisive "
        "verdicts on the real answers (trusted only within 30%-70%, as in calibration)."
    ]
    text = (tmp_path / "report.md").read_text()
    assert "**The judge is too weak to trust" in text
    assert "83.0% [73.0%, 93.0%] of 60 decisive verdicts: OUTSIDE the trusted 30.0%-70.0%" in text


def test_invalid_verdicts_and_failed_calibration_are_reasons() -> None:
    calibration = {"passed": False, "accuracy": 0.55, "threshold": 0.8, "n": 20, "detail": "11/20"}
    problems = eval_report.trust_problems(_data(invalid=0.35, calibration=calibration))
    assert problems == [
        "Against medinstruct, 35.0% of the judge's verdicts on student were invalid (limit "
        "20.0%): the judge often cannot follow the format.",
        "The judge failed calibration: on pairs with a known better answer it was right 55.0% "
        "of the time, below the required 80.0% (11/20).",
    ]
    assert "Calibration FAILED" in "\n".join(
        eval_report.calibration_section(_data(calibration=calibration))
    )


def test_champion_decision_is_in_the_report() -> None:
    data = _data()
    data.decision = Decision("4", False, "v4 not promoted over champion v3: No detectable ...")
    assert eval_report.champion_section(data)[2] == data.decision.reason


def test_empty_data_writes_a_report_without_figures(tmp_path: Path) -> None:
    result = eval_report.write_report(tmp_path, ReportData())
    assert result["figures"] == [] and result["judge_trusted"] is True
    text = (tmp_path / "report.md").read_text()
    for expected in ("Nothing could be judged", "No candidate was judged.", "The judge was not checked",
                     "No two candidates were compared.", "No multiple-choice results were given.",
                     "No calibration was run."):  # fmt: skip
        assert expected in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["leaderboard.json", "report.md"]


def test_subject_missing_for_one_model_shows_na() -> None:
    mcq = copy.deepcopy(_data().mcq)
    mcq["student"]["subjects"]["medqa"] = {"acc": 0.5, "acc_stderr": 0.05, "n": 100}
    assert "| medqa | n/a | 0.500 ± 0.050 (100) |" in eval_report.mcq_section(mcq)
