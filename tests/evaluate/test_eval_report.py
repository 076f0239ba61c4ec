"""The evaluation report: tables, figures, determinism and the untrustworthy-judge sentence."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from medinstruct_eval import eval_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _judge(position1: float = 0.52, invalid: float = 0.05) -> dict[str, Any]:
    student = {
        "win_rate": 0.625, "win_rate_ci": [0.5, 0.75], "lc_win_rate": 0.6,
        "lc_win_rate_ci": [0.48, 0.71], "invalid_rate": invalid, "position1_rate": position1,
        "kappa": 0.41, "n": 40,
    }  # fmt: skip
    base = {
        "win_rate": 0.3, "win_rate_ci": [0.2, 0.4], "lc_win_rate": None,
        "invalid_rate": 0.0, "position1_rate": 0.5, "kappa": None, "n": 40,
    }  # fmt: skip
    return {"reference": {"student": student, "base": base}, "gpt-4": {"student": dict(student)}}


def _mcq_result(acc: float, skipped: dict[str, str] | None = None) -> dict[str, Any]:
    subjects = {
        "mmlu_anatomy": {"acc": acc, "acc_stderr": 0.04, "acc_norm": acc, "acc_norm_stderr": 0.04, "n": 135},
        "medqa": {"acc": acc + 0.1, "acc_stderr": 0.05, "acc_norm": acc, "acc_norm_stderr": 0.05, "n": 100},
    }  # fmt: skip
    return {"subjects": subjects, "macro": {"acc": acc + 0.05, "acc_norm": acc, "n_subjects": 2},
            "skipped": skipped or {}}  # fmt: skip


MCQ = {"student": _mcq_result(0.4), "base": _mcq_result(0.3, {"pubmedqa": "not found"})}
CALIBRATION = {"passed": True, "accuracy": 0.95, "threshold": 0.8, "n": 20}


@pytest.fixture(scope="module")
def full_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """One full report (four PNGs; rendering is the slow part, so it is shared)."""
    out = tmp_path_factory.mktemp("report")
    return out, eval_report.write_report(out, _judge(), MCQ, CALIBRATION)


def test_report_tables_and_figures(full_report: tuple[Path, dict[str, Any]]) -> None:
    out, result = full_report
    assert result["judge_trusted"] is True and result["problems"] == []
    assert sorted(Path(p).name for p in result["figures"]) == [
        "judge_invalid.png", "judge_position.png", "mcq_accuracy.png", "win_rates.png",
    ]  # fmt: skip
    for name in result["figures"]:
        assert Path(name).read_bytes().startswith(PNG_MAGIC)
    text = (out / "report.md").read_text()
    assert (
        "| reference | student | 0.625 [0.500, 0.750] | 0.600 [0.480, 0.710] | 5.0% | 52.0% | 0.410 | 40 |"
        in text
    )
    assert "| reference | base | 0.300 [0.200, 0.400] | n/a | 0.0% | 50.0% | n/a | 40 |" in text
    assert text.index("| gpt-4 | student |") < text.index("| reference | base |")
    assert "| mmlu_anatomy | 0.300 ± 0.040 (135) | 0.400 ± 0.040 (135) |" in text
    assert "| **macro average** | 0.350 | 0.450 |" in text
    assert "- pubmedqa: not found" in text
    assert "Calibration passed: right on 95.0% of 20 pairs" in text
    assert "too weak to trust" not in text
    for png in ("win_rates.png", "mcq_accuracy.png", "judge_invalid.png", "judge_position.png"):
        assert f"]({png})" in text


def test_output_is_deterministic(full_report: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    """Same numbers, inputs in another order: byte-identical markdown and PNGs."""
    first, _ = full_report
    reordered = {k: _judge()[k] for k in reversed(list(_judge()))}
    eval_report.write_report(tmp_path, reordered, dict(reversed(MCQ.items())), CALIBRATION)
    files = sorted(p.name for p in first.iterdir())
    assert files == sorted(p.name for p in tmp_path.iterdir()) and len(files) == 5
    for name in files:
        assert (first / name).read_bytes() == (tmp_path / name).read_bytes(), name


@pytest.mark.parametrize(
    ("position1", "expected"),
    [
        (0.95, "picked the first answer shown in 95.0%"),
        (0.04, "picked the second answer shown in 96.0%"),
    ],
)
def test_position_biased_judge_gets_a_plain_sentence(position1: float, expected: str) -> None:
    judge = eval_report.normalize_judge(_judge(position1=position1))
    problems = eval_report.trust_problems(judge, None)
    assert len(problems) == 2  # the student against both references
    text = "\n".join(eval_report.judge_section(judge, problems))
    assert "**The judge is too weak to trust" in text
    assert f"Against gpt-4, the judge {expected} of its valid verdicts on student" in text


def test_invalid_verdicts_and_failed_calibration_are_reasons() -> None:
    calibration = {"passed": False, "accuracy": 0.55, "threshold": 0.8, "n": 20, "detail": "11/20"}
    problems = eval_report.trust_problems(
        eval_report.normalize_judge(_judge(invalid=0.35)), calibration
    )
    assert len(problems) == 3
    assert problems[0].startswith(
        "Against gpt-4, 35.0% of the judge's verdicts on student were invalid"
    )
    assert problems[2] == (
        "The judge failed calibration: on pairs with a known better answer it was right 55.0% "
        "of the time, below the required 80.0% (11/20)."
    )
    assert "Calibration FAILED" in "\n".join(eval_report.calibration_section(calibration))


def test_untrusted_judge_is_reported_by_write_report(tmp_path: Path) -> None:
    calibration = {"passed": False, "accuracy": 0.5, "threshold": 0.8}
    result = eval_report.write_report(tmp_path, None, None, calibration)
    assert result["judge_trusted"] is False and len(result["problems"]) == 1


def test_bare_metrics_per_reference_mean_the_student() -> None:
    judge = eval_report.normalize_judge({"reference": {"win_rate": 0.5, "position1_rate": 0.5}})
    assert judge == {"reference": {"student": {"win_rate": 0.5, "position1_rate": 0.5}}}
    flat = {"r": {"base": {"win_rate": 0.5, "win_rate_ci_low": 0.4, "win_rate_ci_high": 0.6}}}
    assert eval_report.normalize_judge(flat)["r"]["base"]["win_rate_ci"] == [0.4, 0.6]


def test_missing_inputs_write_a_report_without_figures(tmp_path: Path) -> None:
    result = eval_report.write_report(tmp_path, None, None, None)
    assert result["figures"] == [] and result["judge_trusted"] is True
    text = (tmp_path / "report.md").read_text()
    assert "No judge metrics were given." in text
    assert "No multiple-choice results were given." in text
    assert "No calibration was run." in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.md"]


def test_subject_missing_for_one_model_shows_na() -> None:
    mcq = copy.deepcopy(MCQ)
    del mcq["base"]["subjects"]["medqa"]
    mcq = dict(sorted(mcq.items()))
    assert "| medqa | n/a | 0.500 ± 0.050 (100) |" in eval_report.mcq_section(mcq)
