"""The judge against the clinicians: preferences per item, agreement, kappa, a plain verdict."""

from __future__ import annotations

from pathlib import Path

import pytest

from medinstruct_eval import review
from medinstruct_eval.judge import PanelVerdict
from medinstruct_eval.review import ReviewConfig

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "review"
ORDERS = ("candidate_first", "reference_first")


def verdicts(judge: str, winners: dict[tuple[str, str], str]) -> list[PanelVerdict]:
    """(item, candidate) -> winner in both orders."""
    return [
        PanelVerdict(
            item_id=item,
            candidate=cand,
            order=order,
            winner=winner,
            judge=judge,
            eval_set="medinstruct",
        )
        for (item, cand), winner in winners.items()
        for order in ORDERS
    ]


# The fixture's raters (correct + helpful): r1 base 0 / student 1, r2 0 / 2, r3 2 / 2, r4 0 / 2.
AGREES = {("r1", "student"): "candidate", ("r1", "base"): "reference",
          ("r2", "student"): "candidate", ("r2", "base"): "reference",
          ("r3", "student"): "tie", ("r3", "base"): "tie",
          ("r4", "student"): "candidate", ("r4", "base"): "reference"}  # fmt: skip
PREFERS_BASE = {key: "candidate" if key[1] == "base" else "reference" for key in AGREES}


@pytest.fixture(scope="module")
def results() -> dict:
    return review.import_review(FIXTURES / "filled.csv", FIXTURES / "key.json")


def test_rater_preferences_from_correct_plus_helpful(results: dict) -> None:
    assert review.rater_preferences(results["ratings"]) == {
        ("r1", "base", "student"): "b", ("r2", "base", "student"): "b",
        ("r3", "base", "student"): "tie", ("r4", "base", "student"): "b",
    }  # fmt: skip


def test_judge_preferences_pool_both_orders_and_the_reference_scores_half() -> None:
    winners = {("r1", "student"): "candidate", ("r1", "base"): "tie"}
    prefs = review.judge_preferences(verdicts("j", winners), ["base", "ref", "student"], "ref")
    assert prefs == {("r1", "base", "student"): "b", ("r1", "ref", "student"): "b",
                     ("r1", "base", "ref"): "tie"}  # fmt: skip


def test_agreement_share_and_kappa_exact(results: dict) -> None:
    raters = review.rater_preferences(results["ratings"])
    full = review.agreement(
        review.judge_preferences(verdicts("j", AGREES), ["base", "student"]), raters
    )
    assert (full["n"], full["items"], full["agree"], full["share"], full["kappa"]) == (
        4,
        4,
        4,
        1.0,
        1.0,
    )
    # Wilson for 4/4 is [0.510, 1]; through p_e = 10/16 that is kappa in [-0.306, 1]
    assert full["share_ci"] == [0.510109, 1.0] and full["kappa_ci"] == [-0.306376, 1.0]
    against = review.agreement(
        review.judge_preferences(verdicts("j", PREFERS_BASE), ["base", "student"]), raters
    )
    assert against["agree"] == 0 and against["kappa"] == 0.0


def test_the_verdict_says_plainly_what_the_data_supports() -> None:
    few = {"n": 4, "items": 4, "share": 1.0, "kappa": 1.0, "kappa_ci": [-0.31, 1.0]}
    assert review.stand_in("qwen", few, 0.4) == (
        "Judge 'qwen': too few rated items to tell whether it can stand in for the raters (kappa "
        "1.00 [-0.31, 1.00], agreement 100% on 4 comparisons over 4 items; the interval straddles "
        "the required 0.4)."
    )
    good = dict(few, kappa=0.8, kappa_ci=[0.6, 0.9], n=80, items=80)
    assert review.stand_in("qwen", good, 0.4).startswith("Judge 'qwen' can stand in for the raters")
    bad = dict(few, kappa=0.1, kappa_ci=[-0.1, 0.3], n=80, items=80)
    assert review.stand_in("qwen", bad, 0.4).startswith(
        "Judge 'qwen' cannot stand in for the raters"
    )
    none = dict(few, kappa=None, kappa_ci=None, n=0)
    assert "cannot be measured on 0 comparisons" in review.stand_in("qwen", none, 0.4)


def test_judge_agreement_per_judge_and_flat_metrics(results: dict) -> None:
    panel = verdicts("qwen", AGREES) + verdicts("smol", PREFERS_BASE)
    summary = review.judge_agreement(results, panel, ReviewConfig())
    assert sorted(summary) == ["qwen", "smol"]
    assert summary["qwen"]["stands_in"] == 0 and "too few rated items" in summary["qwen"]["verdict"]
    # no agreement at all, yet 4 items cannot rule out kappa 0.49 (Wilson for 0/4 reaches 0.49)
    assert summary["smol"]["kappa_ci"] == [0.0, 0.489891]
    assert "too few rated items" in summary["smol"]["verdict"]
    flat = review.agreement_metrics(summary)
    assert flat["review/agreement/qwen/kappa"] == 1.0 and flat["review/agreement/qwen/n"] == 4.0
    assert flat["review/agreement/qwen/kappa_ci_low"] == -0.306376
    assert flat["review/agreement/smol/share"] == 0.0
