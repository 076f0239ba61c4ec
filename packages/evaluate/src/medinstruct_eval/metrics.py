"""Win rates from judge verdicts, with position bias and a bootstrap interval.

win rate = (wins + 0.5 x ties) / valid judgements, pooled over both orders:
0.5 means "as good as the reference". Invalid verdicts are left out of the rate
but reported (`invalid_rate`), so a judge that cannot follow the format shows up
instead of silently shrinking the sample.

The confidence interval resamples *items*, not verdicts: the two orders of one
item are not independent, and treating them as such would make the interval
too narrow.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from medinstruct_core.records import Verdict

POINTS = {"candidate": 1.0, "tie": 0.5, "reference": 0.0}
Metrics = dict[str, float | int | None]


@dataclass(frozen=True)
class Tally:
    """Counts of one candidate's verdicts (any subset: one order, one item...)."""

    wins: int = 0
    ties: int = 0
    losses: int = 0
    invalid: int = 0

    @property
    def valid(self) -> int:
        return self.wins + self.ties + self.losses

    @property
    def total(self) -> int:
        return self.valid + self.invalid

    @property
    def win_rate(self) -> float | None:
        """None when nothing valid was judged: 0 would claim a result that does not exist."""
        return (self.wins + 0.5 * self.ties) / self.valid if self.valid else None


def tally(verdicts: Iterable[Verdict]) -> Tally:
    counts = {"candidate": 0, "tie": 0, "reference": 0, "invalid": 0}
    for verdict in verdicts:
        counts[verdict.winner] += 1
    return Tally(counts["candidate"], counts["tie"], counts["reference"], counts["invalid"])


def win_rate(verdicts: Iterable[Verdict]) -> float | None:
    return tally(verdicts).win_rate


def item_scores(verdicts: Iterable[Verdict]) -> dict[str, tuple[float, int]]:
    """item id -> (points, valid verdicts), in first-seen order."""
    scores: dict[str, tuple[float, int]] = {}
    for verdict in verdicts:
        points, valid = scores.get(verdict.item_id, (0.0, 0))
        if verdict.winner != "invalid":
            points, valid = points + POINTS[verdict.winner], valid + 1
        scores[verdict.item_id] = (points, valid)
    return scores


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between order statistics (numpy's default method)."""
    position = q * (len(sorted_values) - 1)
    low, high = math.floor(position), math.ceil(position)
    fraction = position - low
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * fraction


def _percentile_interval(stats: list[float], level: float) -> tuple[float, float] | None:
    if not stats:
        return None
    stats.sort()
    tail = (1.0 - level) / 2
    return quantile(stats, tail), quantile(stats, 1.0 - tail)


def bootstrap_ci(
    verdicts: Sequence[Verdict], *, samples: int, seed: int, level: float = 0.95
) -> tuple[float, float] | None:
    """Percentile interval of the win rate over `samples` item resamples.

    Resamples with no valid verdict at all have no win rate and are skipped;
    None when there is nothing to resample or no resample had a valid verdict.
    """
    scores = list(item_scores(verdicts).values())
    if samples <= 0 or not scores:
        return None
    rng = random.Random(seed)
    stats = []
    for _ in range(samples):
        drawn = [scores[rng.randrange(len(scores))] for _ in scores]
        valid = sum(v for _, v in drawn)
        if valid:
            stats.append(sum(p for p, _ in drawn) / valid)
    return _percentile_interval(stats, level)


def paired_delta_ci(
    tuned: Sequence[Verdict],
    baseline: Sequence[Verdict],
    *,
    samples: int,
    seed: int,
    level: float = 0.95,
) -> tuple[float, float] | None:
    """Interval of win_rate(tuned) - win_rate(baseline), resampling the items both were judged on."""
    a, b = item_scores(tuned), item_scores(baseline)
    shared = [item for item in a if item in b]
    if samples <= 0 or not shared:
        return None
    rng = random.Random(seed)
    stats = []
    for _ in range(samples):
        drawn = [shared[rng.randrange(len(shared))] for _ in shared]
        valid_a, valid_b = sum(a[i][1] for i in drawn), sum(b[i][1] for i in drawn)
        if valid_a and valid_b:
            stats.append(
                sum(a[i][0] for i in drawn) / valid_a - sum(b[i][0] for i in drawn) / valid_b
            )
    return _percentile_interval(stats, level)


def picked_first(verdict: Verdict) -> bool:
    """Whether the judge chose the answer shown as A (only meaningful for decisive verdicts)."""
    first = "candidate" if verdict.order == "candidate_first" else "reference"
    return verdict.winner == first


def first_position_rate(verdicts: Iterable[Verdict]) -> float | None:
    """Share of decisive verdicts that went to Answer A: 0.5 = no position bias."""
    decisive = [v for v in verdicts if v.winner in ("candidate", "reference")]
    return sum(picked_first(v) for v in decisive) / len(decisive) if decisive else None


def order_agreement(verdicts: Iterable[Verdict]) -> float | None:
    """Share of items, judged validly in both orders, whose two verdicts agree."""
    by_item: dict[str, dict[str, str]] = {}
    for verdict in verdicts:
        if verdict.winner != "invalid":
            by_item.setdefault(verdict.item_id, {})[verdict.order] = verdict.winner
    pairs = [orders for orders in by_item.values() if len(orders) == 2]
    return sum(len(set(o.values())) == 1 for o in pairs) / len(pairs) if pairs else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def summarize(verdicts: Sequence[Verdict], *, samples: int, seed: int) -> Metrics:
    """The metrics of one candidate, unprefixed."""
    counts = tally(verdicts)
    ci = bootstrap_ci(verdicts, samples=samples, seed=seed)
    by_order = {
        o: tally(v for v in verdicts if v.order == o)
        for o in ("candidate_first", "reference_first")
    }
    return {
        "win_rate": _round(counts.win_rate),
        "win_rate_ci_low": _round(ci[0]) if ci else None,
        "win_rate_ci_high": _round(ci[1]) if ci else None,
        "win_rate_candidate_first": _round(by_order["candidate_first"].win_rate),
        "win_rate_reference_first": _round(by_order["reference_first"].win_rate),
        "first_position_rate": _round(first_position_rate(verdicts)),
        "order_agreement": _round(order_agreement(verdicts)),
        "wins": counts.wins, "ties": counts.ties, "losses": counts.losses,
        "invalid": counts.invalid, "judgements": counts.total,
        "invalid_rate": _round(counts.invalid / counts.total) if counts.total else None,
        "items": len(item_scores(verdicts)),
    }  # fmt: skip


def compare(
    verdicts: Sequence[Verdict],
    *,
    samples: int,
    seed: int,
    tuned: str = "student",
    baseline: str = "base",
) -> Metrics:
    """Flat metrics for every candidate (`student_win_rate`...) plus the tuned - baseline delta."""
    by_candidate: dict[str, list[Verdict]] = {}
    for verdict in verdicts:
        by_candidate.setdefault(verdict.candidate, []).append(verdict)
    flat: Metrics = {}
    for candidate, own in by_candidate.items():
        flat.update(
            {f"{candidate}_{k}": v for k, v in summarize(own, samples=samples, seed=seed).items()}
        )
    flat.update(_delta(by_candidate, tuned, baseline, samples=samples, seed=seed))
    return flat


def _delta(
    by_candidate: Mapping[str, list[Verdict]], tuned: str, baseline: str, *, samples: int, seed: int
) -> Metrics:
    if tuned not in by_candidate or baseline not in by_candidate:
        return {}
    a, b = win_rate(by_candidate[tuned]), win_rate(by_candidate[baseline])
    ci = paired_delta_ci(by_candidate[tuned], by_candidate[baseline], samples=samples, seed=seed)
    return {
        "delta_win_rate": _round(a - b) if a is not None and b is not None else None,
        "delta_win_rate_ci_low": _round(ci[0]) if ci else None,
        "delta_win_rate_ci_high": _round(ci[1]) if ci else None,
    }
