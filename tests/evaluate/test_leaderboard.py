"""The leaderboard's honesty rules: intervals everywhere, LC withheld on too few items,
and the judge's first-position rate on real verdicts gating its trust."""

from __future__ import annotations

from medinstruct_eval import leaderboard
from medinstruct_eval.judge import PanelVerdict
from medinstruct_eval.metrics import panel_summary


def pv(item: int, order: str, winner: str, candidate: str = "student", judge: str = "j",
       cand: int = 100, eval_set: str = "medinstruct") -> PanelVerdict:  # fmt: skip
    return PanelVerdict(item_id=f"q{item}", candidate=candidate, order=order, winner=winner,
                        judge=judge, eval_set=eval_set, candidate_chars=cand, reference_chars=100)  # fmt: skip


def items(n: int, candidate: str = "student") -> list[PanelVerdict]:
    """n items; the candidate wins the even ones in both orders, loses the odd ones;
    its answer is longer when it wins, so length and outcome are not independent."""
    out = []
    for i in range(n):
        win = i % 2 == 0
        for order in ("candidate_first", "reference_first"):
            out.append(pv(i, order, "candidate" if win else "reference", candidate,
                          cand=150 + i if win else 90 + i))  # fmt: skip
    return out


def test_lc_win_rate_is_withheld_below_min_items() -> None:
    rows = leaderboard.leaderboard(items(3), samples=100, seed=0, min_items_lc=30, lc_penalty=0.01)
    assert len(rows) == 1
    row = rows[0]
    assert row.n == 3 and row.judgements == 6
    assert row.lc_win_rate.value is None and row.lc_win_rate.ci is None
    assert row.lc_win_rate.note == "too few items (3 < 30)"
    assert row.lc_win_rate.cell() == "too few items (3 < 30)"
    assert row.win_rate.value == 2 / 3 and row.win_rate.ci is not None


def test_lc_win_rate_with_enough_items_has_an_interval() -> None:
    rows = leaderboard.leaderboard(items(30), samples=100, seed=0, min_items_lc=30, lc_penalty=0.01)
    lc = rows[0].lc_win_rate
    assert lc.value is not None and lc.ci is not None and lc.ci[0] <= lc.value <= lc.ci[1]
    assert lc.note == ""


def test_flat_metrics_withhold_lc_too() -> None:
    few = panel_summary(items(3), samples=10, seed=0, min_items_lc=30)
    assert few["medinstruct_student_lc_win_rate"] is None
    enough = panel_summary(items(30), samples=10, seed=0, min_items_lc=30)
    assert enough["medinstruct_student_lc_win_rate"] is not None


def test_rows_per_set_and_candidate_with_flat_intervals() -> None:
    verdicts = items(4) + items(4, "base") + [pv(0, "candidate_first", "tie", eval_set="gpt-4")]
    rows = leaderboard.leaderboard(verdicts, samples=50, seed=0, min_items_lc=2, lc_penalty=0.01)
    assert [(r.eval_set, r.candidate, r.n) for r in rows] == [
        ("medinstruct", "student", 4), ("medinstruct", "base", 4), ("gpt-4", "student", 1),
    ]  # fmt: skip
    assert (
        rows[2].first_position.value is None
        and rows[2].first_position.note == "no decisive verdict"
    )
    flat = leaderboard.leaderboard_metrics(rows)
    assert set(flat) >= {
        "medinstruct_student_lc_win_rate_ci_low",
        "gpt-4_student_first_position_rate",
    }
    assert rows[0].as_dict()["first_position_rate"] == 0.5


def test_first_position_rate_has_an_item_bootstrap_interval() -> None:
    # the judge picks answer A every time: first-position rate 1 whatever the candidate
    verdicts = [pv(i, o, "candidate" if o == "candidate_first" else "reference")
                for i in range(5) for o in ("candidate_first", "reference_first")]  # fmt: skip
    rate = leaderboard.first_position(verdicts, samples=200, seed=0)
    assert rate.value == 1.0 and rate.ci == (1.0, 1.0)


def test_position_check_gates_trust_like_calibration() -> None:
    biased = [pv(i, o, "candidate" if o == "candidate_first" else "reference", judge="always-a")
              for i in range(6) for o in ("candidate_first", "reference_first")]  # fmt: skip
    fair = items(6)  # the winner does not depend on the order: first-position rate 0.5
    checks = leaderboard.position_checks(biased + fair, low=0.3, high=0.7, samples=100, seed=0)
    by_judge = {c.judge: c for c in checks}
    assert by_judge["always-a"].trusted is False and by_judge["always-a"].decisive == 12
    assert (
        by_judge["always-a"]
        .reason()
        .startswith(
            "Judge 'always-a' chose the first-shown answer in 100.0% [100.0%, 100.0%] of its 12 decisive"
        )
    )
    assert by_judge["j"].trusted is True and by_judge["j"].reason() == ""
    flat = leaderboard.position_metrics(checks)
    assert flat["position_always-a_trusted"] == 0 and flat["position_j_trusted"] == 1
    assert flat["position_j_first_rate"] == 0.5


def test_a_judge_without_decisive_verdicts_is_not_trusted() -> None:
    ties = [pv(0, "candidate_first", "tie"), pv(0, "reference_first", "tie")]
    (check,) = leaderboard.position_checks(ties, low=0.3, high=0.7, samples=10, seed=0)
    assert check.trusted is False and "no decisive verdict" in check.reason()
