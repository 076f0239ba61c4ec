import pytest

from medinstruct_core.records import Verdict
from medinstruct_eval.metrics import (
    Tally,
    bootstrap_ci,
    compare,
    first_position_rate,
    item_scores,
    order_agreement,
    paired_delta_ci,
    quantile,
    summarize,
    tally,
    win_rate,
)

CF, RF = "candidate_first", "reference_first"


def v(item: str, order: str, winner: str, candidate: str = "student") -> Verdict:
    return Verdict(item_id=item, candidate=candidate, order=order, winner=winner)


# q1: win + tie, q2: loss + invalid, q3: win + win
FIXTURE = [
    v("q1", CF, "candidate"), v("q1", RF, "tie"),
    v("q2", CF, "reference"), v("q2", RF, "invalid"),
    v("q3", CF, "candidate"), v("q3", RF, "candidate"),
]  # fmt: skip


def test_tally_and_win_rate_count_ties_as_half_and_skip_invalid():
    assert tally(FIXTURE) == Tally(wins=3, ties=1, losses=1, invalid=1)
    assert tally(FIXTURE).valid == 5 and tally(FIXTURE).total == 6
    assert win_rate(FIXTURE) == pytest.approx(3.5 / 5)
    assert win_rate([]) is None
    assert win_rate([v("q1", CF, "invalid")]) is None


def test_item_scores_pool_both_orders():
    assert item_scores(FIXTURE) == {"q1": (1.5, 2), "q2": (0.0, 1), "q3": (2.0, 2)}


def test_position_bias_metrics():
    # decisive: q1 CF cand (A), q2 CF ref (B), q3 CF cand (A), q3 RF cand (B) -> 2/4 picked A
    assert first_position_rate(FIXTURE) == 0.5
    assert first_position_rate([v("q1", RF, "reference"), v("q2", RF, "tie")]) == 1.0
    # items valid in both orders: q1 (cand vs tie: disagree), q3 (agree)
    assert order_agreement(FIXTURE) == 0.5
    assert order_agreement([v("q2", CF, "reference")]) is None


def test_summarize_is_exact_on_the_fixture():
    metrics = summarize(FIXTURE, samples=0, seed=1)
    assert metrics == {
        "win_rate": 0.7,
        "win_rate_ci_low": None,
        "win_rate_ci_high": None,
        "win_rate_candidate_first": 0.6667,
        "win_rate_reference_first": 0.75,
        "first_position_rate": 0.5,
        "order_agreement": 0.5,
        "wins": 3, "ties": 1, "losses": 1, "invalid": 1, "judgements": 6,
        "invalid_rate": 0.1667,
        "items": 3,
    }  # fmt: skip


def test_quantile_interpolates_linearly():
    assert quantile([0.0, 1.0, 2.0, 3.0], 0.5) == 1.5
    assert quantile([0.0, 1.0, 2.0, 3.0], 0.0) == 0.0
    assert quantile([0.0, 1.0, 2.0, 3.0], 1.0) == 3.0
    assert quantile([0.0, 10.0], 0.25) == 2.5
    assert quantile([4.0], 0.975) == 4.0


def test_bootstrap_ci_is_seeded_and_brackets_the_estimate():
    ci = bootstrap_ci(FIXTURE, samples=500, seed=7)
    assert ci == bootstrap_ci(FIXTURE, samples=500, seed=7)
    assert ci is not None and ci[0] <= 0.7 <= ci[1]
    assert 0.0 <= ci[0] < ci[1] <= 1.0


def test_bootstrap_ci_exact_on_degenerate_and_two_item_fixtures():
    all_wins = [v("q1", CF, "candidate"), v("q2", RF, "candidate")]
    assert bootstrap_ci(all_wins, samples=200, seed=0) == (1.0, 1.0)
    # One item won twice, one lost twice: a resample draws the same item twice half
    # the time, so both 0 and 1 occur far more often than the 2.5% tails.
    split = [
        v("q1", CF, "candidate"),
        v("q1", RF, "candidate"),
        v("q2", CF, "reference"),
        v("q2", RF, "reference"),
    ]
    assert bootstrap_ci(split, samples=1000, seed=0) == (0.0, 1.0)
    assert bootstrap_ci(split, samples=0, seed=0) is None
    assert bootstrap_ci([v("q1", CF, "invalid")], samples=50, seed=0) is None


def test_paired_delta_ci_uses_shared_items():
    student = [v("q1", CF, "candidate"), v("q2", CF, "candidate")]
    base = [
        v("q1", CF, "reference", "base"),
        v("q2", CF, "reference", "base"),
        v("q9", CF, "candidate", "base"),
    ]
    assert paired_delta_ci(student, base, samples=100, seed=3) == (1.0, 1.0)
    assert paired_delta_ci(student, [v("q9", CF, "candidate", "base")], samples=100, seed=3) is None


def test_compare_flattens_per_candidate_and_adds_the_delta():
    base = [v("q1", CF, "reference", "base"), v("q1", RF, "tie", "base"),
            v("q2", CF, "reference", "base"), v("q3", RF, "candidate", "base")]  # fmt: skip
    metrics = compare(FIXTURE + base, samples=0, seed=0)
    assert metrics["student_win_rate"] == 0.7
    assert metrics["base_win_rate"] == 0.375
    assert metrics["delta_win_rate"] == 0.325
    assert metrics["base_judgements"] == 4 and metrics["student_invalid"] == 1
    assert metrics["delta_win_rate_ci_low"] is None
    assert set(compare(FIXTURE, samples=0, seed=0)) == {
        f"student_{k}" for k in summarize(FIXTURE, samples=0, seed=0)
    }
