"""Paired comparisons on synthetic verdicts with a known truth: what the data supports."""

from __future__ import annotations

import random

import pytest

from medinstruct_core.records import Verdict
from medinstruct_eval import paired
from medinstruct_eval.paired import Paired

ORDERS = ("candidate_first", "reference_first")


def synthetic(n: int, rate: float, seed: int = 0) -> tuple[list[Verdict], list[Verdict]]:
    """Student better than base on each item with probability `rate` (both orders agree):
    on such an item the student beats the reference and the base loses to it, else the reverse."""
    rng = random.Random(seed)
    student, base = [], []
    for i in range(n):
        better = rng.random() < rate
        for order in ORDERS:
            student.append(Verdict(item_id=f"q{i}", candidate="student", order=order,
                                   winner="candidate" if better else "reference"))  # fmt: skip
            base.append(Verdict(item_id=f"q{i}", candidate="base", order=order,
                                winner="reference" if better else "candidate"))  # fmt: skip
    return student, base


def test_better_on_80_percent_of_200_items_is_detected() -> None:
    result = paired.compare(*synthetic(200, 0.8), "student", "base", samples=1000, seed=1)
    assert result.n == 200 and result.better + result.worse == 200
    assert result.ci is not None and result.ci[0] > 0
    assert result.p_value is not None and result.p_value < 1e-6
    assert result.outcome(0.05) == "better"
    assert result.sentence(0.05).startswith(f"student beats base by +{result.delta:.2f} [+")
    assert result.sentence(0.05).endswith(
        "on 200 items (sign test p = " + f"{result.p_value:.3g})."
    )


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_the_same_rate_on_3_items_is_no_detectable_difference(seed: int) -> None:
    result = paired.compare(*synthetic(3, 0.8, seed), "student", "base", samples=1000, seed=1)
    assert result.n == 3
    assert result.outcome(0.05) == "none"
    assert result.sentence(0.05).startswith(
        "No detectable difference between student and base at n = 3 (the interval spans "
    )


def test_three_of_three_better_is_still_not_detected() -> None:
    """The percentile bootstrap gives [1, 1] here; the sign test (p = 0.25) does not agree."""
    result = paired.compare(*synthetic(3, 1.0), "student", "base", samples=500, seed=0)
    assert result.ci == (1.0, 1.0) and result.p_value == 0.25
    assert result.outcome(0.05) == "none"


def test_worse_is_said_as_trailing() -> None:
    student, base = synthetic(200, 0.2)
    result = paired.compare(student, base, "student", "base", samples=500, seed=0)
    assert result.outcome(0.05) == "worse" and result.sentence(0.05).startswith(
        "student trails base by \u2212"
    )


def test_sign_test_exact_values() -> None:
    assert paired.sign_test(3, 0) == 0.25
    assert paired.sign_test(5, 5) == 1.0
    assert paired.sign_test(9, 1) == pytest.approx(2 * 11 / 1024)
    assert paired.sign_test(0, 0) == 1.0


def test_item_means_pool_orders_and_skip_invalid() -> None:
    verdicts = [
        Verdict(item_id="a", candidate="s", order="candidate_first", winner="candidate"),
        Verdict(item_id="a", candidate="s", order="reference_first", winner="tie"),
        Verdict(item_id="b", candidate="s", order="candidate_first", winner="invalid"),
        Verdict(item_id="c", candidate="s", order="candidate_first", winner="reference"),
    ]
    assert paired.item_means(verdicts) == {"a": 0.75, "c": 0.0}


def test_only_shared_items_are_compared() -> None:
    student, base = synthetic(10, 1.0)
    result = paired.compare(student, base[:8], "student", "base", samples=0, seed=0)
    assert result.n == 4 and result.ci is None and result.delta == 1.0  # items q0..q3
    assert result.outcome(0.05) == "none"
    empty = paired.compare(student, [], "student", "base", samples=10, seed=0)
    assert empty.outcome(0.05) == "untested"
    assert (
        empty.sentence(0.05)
        == "student and base could not be compared: no item was judged for both."
    )


def test_bootstrap_mean_is_seeded_and_brackets_the_mean() -> None:
    values = [0.0, 1.0, 0.5, 1.0, -1.0, 0.5]
    first = paired.bootstrap_mean(values, samples=300, seed=7)
    assert first == paired.bootstrap_mean(values, samples=300, seed=7)
    assert first is not None and first[0] <= sum(values) / len(values) <= first[1]
    assert paired.bootstrap_mean(values, samples=0, seed=7) is None
    assert paired.bootstrap_mean([], samples=10, seed=7) is None


def test_metric_names_for_dvc_and_mlflow() -> None:
    result = Paired("student", "base", 3, 0.5, (0.0, 1.0), 0.5, 2, 0, 1)
    assert result.as_metrics() == {
        "paired.student_vs_base.delta": 0.5, "paired.student_vs_base.ci_low": 0.0,
        "paired.student_vs_base.ci_high": 1.0, "paired.student_vs_base.p_value": 0.5,
        "paired.student_vs_base.n": 3,
    }  # fmt: skip


def test_head_to_head_reports_the_win_rate_over_the_other_answer() -> None:
    direct = [
        Verdict(item_id=f"q{i}", candidate="student", order=o, winner="candidate")
        for i in range(4)
        for o in ORDERS
    ]
    result = paired.head_to_head(direct, "student", "base", samples=0, seed=0)
    assert result.kind == "head_to_head" and result.delta == 0.5 and result.better == 4
    metrics = result.as_metrics("h2h.")
    assert metrics["h2h.student_vs_base.win_rate"] == 1.0 and metrics["h2h.student_vs_base.n"] == 4


def test_default_pairs_put_the_student_against_every_other_candidate() -> None:
    assert paired.default_pairs(["base", "student", "champion"]) == [
        ("student", "base"), ("student", "champion"),
    ]  # fmt: skip
    assert paired.default_pairs(["base", "gpt"]) == []
