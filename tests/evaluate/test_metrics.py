import pytest

from medinstruct_core.records import Verdict
from medinstruct_eval.judge import PanelVerdict
from medinstruct_eval.metrics import (
    Tally,
    bootstrap_ci,
    candidate_summary,
    cohen_kappa,
    compare,
    first_position_rate,
    fit_length_glm,
    invalid_warnings,
    item_scores,
    judge_agreement,
    judge_kappa,
    lc_win_rate,
    length_feature,
    nested_summary,
    order_agreement,
    order_kappa,
    paired_delta_ci,
    panel_summary,
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


# -- kappa ---------------------------------------------------------------------------------
def test_cohen_kappa_exact_values():
    # p_o = 0.5, p_e = 0.5 -> 0
    assert cohen_kappa(list("AABB"), list("ABAB")) == 0.0
    assert cohen_kappa(list("ABC"), list("ABC")) == 1.0
    # p_o = 0, p_e = 0.5 -> -1
    assert cohen_kappa(list("AB"), list("BA")) == -1.0
    # Textbook table: 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no -> p_o 0.7, p_e 0.5, kappa 0.4
    a = ["y"] * 25 + ["n"] * 25
    b = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    assert cohen_kappa([], []) is None
    assert cohen_kappa(list("AA"), list("AA")) is None  # chance agreement is already 1
    with pytest.raises(ValueError, match="paired labels: 2 vs 1"):
        cohen_kappa(list("AB"), list("A"))


def pv(item, order, winner, judge="j1", candidate="student", cand=100, ref=100, eval_set=""):
    return PanelVerdict(item_id=item, candidate=candidate, order=order, winner=winner, judge=judge,
                        eval_set=eval_set, candidate_chars=cand, reference_chars=ref)  # fmt: skip


def test_order_kappa_pairs_the_two_orders_per_item():
    # FIXTURE: q1 (candidate, tie), q3 (candidate, candidate); q2 has an invalid order.
    # labels CF [candidate, candidate], RF [tie, candidate]: p_o 0.5, p_e 0.5 -> 0
    assert order_kappa(FIXTURE) == 0.0
    consistent = [pv("q1", CF, "candidate"), pv("q1", RF, "candidate"),
                  pv("q2", CF, "reference"), pv("q2", RF, "reference")]  # fmt: skip
    assert order_kappa(consistent) == 1.0
    # Always "A": candidate when first, reference when second -> total disagreement.
    biased = [pv("q1", CF, "candidate"), pv("q1", RF, "reference"),
              pv("q2", CF, "candidate"), pv("q2", RF, "reference")]  # fmt: skip
    # CF all "candidate", RF all "reference": p_o = 0 and p_e = 0, so kappa = 0.
    assert order_kappa(biased) == 0.0
    # Units are per judge: two judges on one item are two pairs.
    two_judges = [*consistent[:2], pv("q1", CF, "tie", "j2"), pv("q1", RF, "tie", "j2")]
    assert order_kappa(two_judges) == 1.0


def test_judge_kappa_matches_units_judged_by_both():
    verdicts = [
        pv("q1", CF, "candidate", "a"), pv("q1", CF, "candidate", "b"),
        pv("q2", CF, "reference", "a"), pv("q2", CF, "reference", "b"),
        pv("q3", CF, "candidate", "a"), pv("q3", CF, "reference", "b"),
        pv("q4", CF, "tie", "a"), pv("q4", CF, "invalid", "b"),
    ]  # fmt: skip
    # shared valid units q1-q3: a = [c, r, c], b = [c, r, r]; p_o 2/3, p_e 2/9+2/9 = 4/9 -> 0.4
    assert judge_kappa(verdicts, "a", "b") == pytest.approx(0.4)
    assert judge_agreement(verdicts) == {"kappa_a_vs_b": 0.4}


# -- the length-controlled win rate ------------------------------------------------------
# 100 answers whose length differs from the reference by -100..900 characters (never 0):
# the candidate is longer 90 times out of 100.
DELTAS = [d for d in range(-100, 901, 10) if d != 0]


def test_length_feature_is_tanh_of_the_standardised_difference():
    features, scale = length_feature([-10.0, 0.0, 10.0])
    assert scale == 10.0  # sample std (ddof=1), as pandas' .std()
    assert features == pytest.approx([-0.761594, 0.0, 0.761594], abs=1e-6)
    assert length_feature([5.0, 5.0]) == ([0.0, 0.0], 0.0)


def test_longer_always_wins_gives_an_extreme_raw_but_neutral_lc_win_rate():
    verdicts = [
        pv(f"q{i}", CF if i % 2 else RF, "candidate" if d > 0 else "reference", cand=100 + d)
        for i, d in enumerate(DELTAS)
    ]
    assert win_rate(verdicts) == 0.9
    assert lc_win_rate(verdicts) == pytest.approx(0.5, abs=0.01)
    # The mirror image: the shorter answer always wins.
    flipped = [v.model_copy(update={"winner": "reference" if v.winner == "candidate" else "candidate"})
               for v in verdicts]  # fmt: skip
    assert win_rate(flipped) == pytest.approx(0.1)
    assert lc_win_rate(flipped) == pytest.approx(0.5, abs=0.01)


def test_lc_keeps_a_quality_difference_that_length_does_not_explain():
    # Wins on two items of three, whatever the length: LC stays near the raw rate.
    outcomes = [1.0 if i % 3 else 0.0 for i in range(len(DELTAS))]
    glm = fit_length_glm(outcomes, [float(d) for d in DELTAS])
    assert sum(outcomes) / len(outcomes) == 0.66
    assert glm is not None and glm.lc_win_rate == pytest.approx(0.66, abs=0.02)
    assert abs(glm.slope) < 0.2


def test_glm_without_length_variation_is_the_raw_rate_and_predicts_consistently():
    glm = fit_length_glm([1.0, 0.0, 0.5, 1.0], [0.0, 0.0, 0.0, 0.0])
    assert glm is not None and glm.slope == 0.0 and glm.scale == 0.0
    assert glm.lc_win_rate == pytest.approx(0.625, abs=1e-5)
    assert glm.predict(123.0) == pytest.approx(glm.lc_win_rate)
    assert fit_length_glm([], []) is None
    with pytest.raises(ValueError, match="2 outcomes for 1 length deltas"):
        fit_length_glm([1.0, 0.0], [3.0])


def test_glm_matches_a_brute_force_maximum_likelihood_fit():
    """Newton's answer maximises the penalised likelihood: no grid point does better."""
    import math

    outcomes = [1.0, 0.0, 1.0, 1.0, 0.5, 0.0, 1.0, 0.0]
    deltas = [50.0, -20.0, 10.0, 200.0, 0.0, 30.0, -40.0, -150.0]
    glm = fit_length_glm(outcomes, deltas, penalty=0.01)
    features, _ = length_feature(deltas)

    def loglik(b0: float, b1: float) -> float:
        total = -0.005 * b1 * b1 - 0.5e-6 * b0 * b0
        for y, x in zip(outcomes, features, strict=True):
            p = 1 / (1 + math.exp(-(b0 + b1 * x)))
            total += y * math.log(p) + (1 - y) * math.log(1 - p)
        return total

    best = loglik(glm.intercept, glm.slope)
    for db0 in (-0.01, 0.0, 0.01):
        for db1 in (-0.01, 0.0, 0.01):
            assert loglik(glm.intercept + db0, glm.slope + db1) <= best + 1e-12


# -- the panel summary -------------------------------------------------------------------
def test_candidate_summary_flags_invalid_rates_above_the_limit():
    verdicts = [pv("q1", CF, "candidate"), pv("q1", RF, "invalid"),
                pv("q2", CF, "tie"), pv("q2", RF, "candidate")]  # fmt: skip
    metrics = candidate_summary(verdicts, samples=0, seed=0, max_invalid_rate=0.1)
    assert metrics["win_rate"] == pytest.approx(0.8333, abs=1e-4)
    assert metrics["invalid_rate"] == 0.25 and metrics["invalid_flag"] == 1
    assert candidate_summary(verdicts, samples=0, seed=0, max_invalid_rate=0.3)["invalid_flag"] == 0
    assert "judge_j1_win_rate" not in metrics  # one judge: no per-judge breakdown


def test_panel_summary_per_eval_set_candidate_and_judge():
    verdicts = [
        pv("q1", CF, "candidate", "a", eval_set="icliniq_gpt-4"),
        pv("q1", RF, "candidate", "a", eval_set="icliniq_gpt-4"),
        pv("q1", CF, "candidate", "b", eval_set="icliniq_gpt-4"),
        pv("q1", RF, "reference", "b", eval_set="icliniq_gpt-4"),
        pv("q1", CF, "reference", "a", candidate="base", eval_set="icliniq_gpt-4"),
        pv("q1", RF, "reference", "a", candidate="base", eval_set="icliniq_gpt-4"),
        pv("q1", CF, "tie", "a", eval_set="medinstruct"),
        pv("q1", RF, "tie", "a", eval_set="medinstruct"),
    ]  # fmt: skip
    metrics = panel_summary(verdicts, samples=0, seed=0)
    assert metrics["icliniq_gpt-4_student_win_rate"] == 0.75
    assert metrics["icliniq_gpt-4_student_judge_a_win_rate"] == 1.0
    assert metrics["icliniq_gpt-4_student_judge_b_win_rate"] == 0.5
    assert metrics["icliniq_gpt-4_student_judge_b_first_position_rate"] == 1.0
    assert metrics["icliniq_gpt-4_base_win_rate"] == 0.0
    assert metrics["icliniq_gpt-4_delta_win_rate"] == 0.75
    # a and b share units (q1, student, CF) agree and (q1, student, RF) disagree:
    # a = [c, c], b = [c, r]: p_o 0.5, p_e 0.5 -> 0
    assert metrics["icliniq_gpt-4_kappa_a_vs_b"] == 0.0
    assert metrics["medinstruct_student_win_rate"] == 0.5
    assert metrics["medinstruct_student_lc_win_rate"] == 0.5
    assert "medinstruct_delta_win_rate" not in metrics  # no base on that set
    # Plain Verdicts (no eval set, no judge) keep the old unprefixed names.
    assert panel_summary(FIXTURE, samples=0, seed=1)["student_win_rate"] == 0.7


def test_invalid_warnings_are_sentences_for_pooled_rates_only():
    metrics = {"medinstruct_student_invalid_rate": 0.25, "medinstruct_base_invalid_rate": 0.05,
               "medinstruct_student_judge_a_invalid_rate": 0.5}  # fmt: skip
    assert invalid_warnings(metrics, 0.1) == [
        "medinstruct_student: 25% of judge replies were invalid (limit 10%); "
        "its win rate rests on the rest only"
    ]


def test_nested_summary_has_the_report_shape():
    verdicts = [pv("q1", CF, "candidate", eval_set="gpt-4"), pv("q1", RF, "tie", eval_set="gpt-4"),
                pv("q2", CF, "reference", eval_set="gpt-4"), pv("q2", RF, "invalid", eval_set="gpt-4")]  # fmt: skip
    nested = nested_summary(verdicts, samples=0, seed=0)
    assert nested == {"gpt-4": {"student": {
        "win_rate": 0.5, "win_rate_ci": None, "lc_win_rate": 0.5, "invalid_rate": 0.25,
        "invalid_flag": 1, "position1_rate": 0.5, "kappa": 0.0, "n": 2,
    }}}  # fmt: skip
    assert list(nested_summary(FIXTURE, samples=10, seed=0)) == ["reference"]
    assert nested_summary(FIXTURE, samples=10, seed=0)["reference"]["student"]["win_rate_ci"] == [
        pytest.approx(bootstrap_ci(FIXTURE, samples=10, seed=0)[0], abs=1e-4),
        pytest.approx(bootstrap_ci(FIXTURE, samples=10, seed=0)[1], abs=1e-4),
    ]
