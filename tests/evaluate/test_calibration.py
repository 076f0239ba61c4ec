"""Judge calibration: the shipped set, the metrics per order, and the trust decision."""

from pathlib import Path

import pytest

from medinstruct_core.io import DataError, read_jsonl
from medinstruct_core.llm.config import Sampling
from medinstruct_core.llm.types import LLMRequest
from medinstruct_core.records import EvalItem
from medinstruct_eval.calibration import (
    CalibrationItem,
    CalibrationMetrics,
    UntrustedJudge,
    calibration_summary,
    judge_trustworthy,
    load_calibration,
    report_summary,
    run_calibration,
    trusted_panel,
)
from medinstruct_eval.config import CalibrationThresholds
from tests.evaluate.test_judge import ScriptedClient

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "data" / "eval" / "calibration.jsonl"


def test_shipped_calibration_set_is_built_from_the_eval_set():
    items = load_calibration(SHIPPED)
    evals = {i.id: i for i in read_jsonl(REPO / "data" / "eval" / "eval_set.jsonl", EvalItem)}
    assert len(items) == 32
    assert [i.id for i in items] == [f"cal-{n:03d}" for n in range(1, 33)]
    assert sum(i.kind == "truncated_wrong_fact" for i in items) == 18
    assert sum(i.kind == "other_question" for i in items) == 14
    for item in items:
        source = evals[item.source_id]
        assert (item.instruction, item.input, item.good) == (
            source.instruction, source.input, source.reference,
        )  # fmt: skip
        if item.kind == "other_question":
            assert item.bad == evals[item.bad_from].reference and item.bad_from != item.source_id
        else:  # cut off mid-sentence, and shorter than the good answer
            assert not item.bad.endswith(".") and len(item.bad) < len(item.good)


def test_duplicate_calibration_ids_are_an_error(tmp_path):
    row = CalibrationItem(id="c1", kind="other_question", instruction="q", good="g", bad="b")
    path = tmp_path / "cal.jsonl"
    path.write_text((row.model_dump_json() + "\n") * 2)
    with pytest.raises(DataError, match="record 2: field 'id': duplicate id 'c1'"):
        load_calibration(path)


ITEMS = [
    CalibrationItem(
        id=f"c{n}",
        kind="other_question",
        instruction=f"question {n}",
        good=f"good answer {n}",
        bad=f"bad answer {n}",
    )
    for n in range(1, 5)
]


def _shown_first(request: LLMRequest) -> str:
    return request.messages[-1]["content"].split("[Answer A]\n", 1)[1]


def _perfect(request: LLMRequest) -> str:
    return "Winner: A" if _shown_first(request).startswith("good") else "Winner: B"


def test_a_perfect_judge_is_trusted_and_a_position_biased_one_is_not():
    judges = {
        "perfect": ScriptedClient(_perfect),
        "always-a": ScriptedClient(lambda r: "Winner: A"),
    }
    results = run_calibration(judges, ITEMS, Sampling(temperature=0.0))
    assert results["perfect"] == CalibrationMetrics(
        judge="perfect", judgements=8, accuracy_good_first=1.0, accuracy_good_second=1.0,
        position1_rate=0.5, tie_rate=0.0, invalid_rate=0.0, n_good_first=4, n_good_second=4,
    )  # fmt: skip
    biased = results["always-a"]
    assert (biased.accuracy_good_first, biased.accuracy_good_second, biased.position1_rate) == (
        1.0, 0.0, 1.0,
    )  # fmt: skip
    assert judge_trustworthy(results["perfect"]) == (True, "")
    assert judge_trustworthy(biased) == (
        False,
        "Judge 'always-a' is not trustworthy: it picked the better answer shown second in 0 of "
        "4 pairs (0%, 95% CI 0%-49%) (needs at least 80%); it chose the first-shown answer in "
        "100% of decisive verdicts (needs 30% to 70%).",
    )
    assert calibration_summary(results) == {
        "calibration_perfect_judgements": 8, "calibration_perfect_accuracy_good_first": 1.0,
        "calibration_perfect_accuracy_good_second": 1.0, "calibration_perfect_position1_rate": 0.5,
        "calibration_perfect_tie_rate": 0.0, "calibration_perfect_invalid_rate": 0.0,
        "calibration_perfect_n_good_first": 4, "calibration_perfect_n_good_second": 4,
        "calibration_perfect_trusted": 1,
        "calibration_always-a_judgements": 8, "calibration_always-a_accuracy_good_first": 1.0,
        "calibration_always-a_accuracy_good_second": 0.0, "calibration_always-a_position1_rate": 1.0,
        "calibration_always-a_tie_rate": 0.0, "calibration_always-a_invalid_rate": 0.0,
        "calibration_always-a_n_good_first": 4, "calibration_always-a_n_good_second": 4,
        "calibration_always-a_trusted": 0,
    }  # fmt: skip


def test_ties_and_invalid_replies_count_as_misses():
    replies = iter(["Winner: tie", "garbled", "Winner: tie", "Winner: A"] * 2)
    results = run_calibration([ScriptedClient(lambda r: next(replies))], ITEMS[:4], Sampling())
    metrics = results["judge1"]
    assert (metrics.tie_rate, metrics.invalid_rate) == (0.5, 0.25)
    # good is shown second in candidate_first (tie, tie...) and first in reference_first
    assert (metrics.accuracy_good_second, metrics.accuracy_good_first) == (0.0, 0.5)
    ok, reason = judge_trustworthy(metrics)
    assert not ok and "shown first in 2 of 4 pairs (50%, 95% CI 15%-85%)" in reason
    # Without the counts (metrics written before they were kept) only the share is said.
    assert (
        "shown first in 50% of pairs"
        in judge_trustworthy(CalibrationMetrics("j", 4, 0.5, 0.0, 0.5, 0.5, 0.25))[1]
    )


def test_thresholds_are_inclusive_and_configurable():
    edge = CalibrationMetrics("j", 10, 0.8, 0.8, 0.7, 0.0, 0.0)
    assert judge_trustworthy(edge)[0] is True
    strict = CalibrationThresholds(min_accuracy=0.9, position_low=0.45, position_high=0.55)
    ok, reason = judge_trustworthy(edge, strict)
    assert not ok and reason.count("needs") == 3
    silent = CalibrationMetrics("j", 4, 0.0, 0.0, None, 1.0, 0.0)
    assert "gave no decisive verdict" in judge_trustworthy(silent)[1]
    with pytest.raises(ValueError, match=r"position_low 0\.8 > position_high 0\.2"):
        CalibrationThresholds(position_low=0.8, position_high=0.2)


def test_trusted_panel_policies():
    good, bad = ScriptedClient(_perfect), ScriptedClient(lambda r: "Winner: A")
    judges = {"good": good, "bad": bad}
    results = run_calibration(judges, ITEMS, Sampling())
    kept, reasons = trusted_panel(judges, results, policy="warn")
    assert list(kept) == ["good", "bad"] and len(reasons) == 1
    kept, _ = trusted_panel(judges, results, policy="drop")
    assert list(kept) == ["good"]
    with pytest.raises(UntrustedJudge, match="Judge 'bad' is not trustworthy"):
        trusted_panel(judges, results, policy="fail")
    with pytest.raises(UntrustedJudge, match="every judge failed calibration"):
        trusted_panel({"bad": bad}, results, policy="drop")
    _, reasons = trusted_panel({"new": good}, results)
    assert reasons == ["Judge 'new' was not calibrated."]


def test_report_summary_feeds_the_eval_report():
    judges = {
        "perfect": ScriptedClient(_perfect),
        "always-a": ScriptedClient(lambda r: "Winner: A"),
    }
    results = run_calibration(judges, ITEMS, Sampling())
    summary = report_summary(results)
    assert {k: summary[k] for k in ("passed", "accuracy", "threshold", "n")} == {
        "passed": False, "accuracy": 0.0, "threshold": 0.8, "n": 4,
    }  # fmt: skip
    assert summary["detail"].startswith("Judge 'always-a' is not trustworthy")
    good = report_summary({"perfect": results["perfect"]})
    assert good["passed"] is True and good["accuracy"] == 1.0
    assert good["detail"] == (
        "perfect: right on 4 of 4 pairs (100%, 95% CI 51%-100%) with the better answer first, "
        "4 of 4 pairs (100%, 95% CI 51%-100%) second, first-shown picked 50%"
    )
    assert report_summary({}) == {}
