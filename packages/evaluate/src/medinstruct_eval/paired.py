"""Did it help? Two candidates compared on the same items, and what the data supports.

Two win rates against a reference, each with its own interval, answer "did tuning
help?" badly: the intervals overlap long before the difference stops being real,
because they ignore that both candidates answered the *same* questions. So:

- per item, each candidate's judge score against the reference (win 1, tie 1/2,
  loss 0, averaged over both orders and every judge);
- delta = the mean over shared items of score(a) - score(b);
- a paired bootstrap CI (resampling items, so an item's two scores move together);
- an exact two-sided sign test on the items where the scores differ.

A difference counts as detected only when the CI excludes 0 *and* the sign test
is below `alpha`. The percentile bootstrap alone is too generous on a handful of
items: a candidate better on 3 of 3 items gets the interval [1, 1], while the
sign test rightly says p = 0.25.

Head to head (`evaluate.head_to_head`), the judge compares a's answer with b's
directly; the per-item value is then a's score minus 1/2, so the same test applies.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from medinstruct_core.records import Verdict
from medinstruct_eval.metrics import POINTS, quantile

Outcome = Literal["better", "worse", "none", "untested"]


def item_means(verdicts: Iterable[Verdict]) -> dict[str, float]:
    """item id -> mean points of its valid verdicts (items with none are left out)."""
    totals: dict[str, list[float]] = {}
    for verdict in verdicts:
        if verdict.winner != "invalid":
            totals.setdefault(verdict.item_id, []).append(POINTS[verdict.winner])
    return {item: sum(points) / len(points) for item, points in totals.items()}


def sign_test(better: int, worse: int) -> float:
    """Exact two-sided binomial p-value of `better` vs `worse` under p = 1/2 (ties dropped)."""
    n = better + worse
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(better, worse) + 1)) / 2**n
    return min(1.0, 2 * tail)


def bootstrap_mean(
    values: Sequence[float], *, samples: int, seed: int, level: float = 0.95
) -> tuple[float, float] | None:
    """Percentile interval of the mean over `samples` resamples; None without data or samples."""
    if samples <= 0 or not values:
        return None
    rng = random.Random(seed)
    n = len(values)
    means = sorted(sum(values[rng.randrange(n)] for _ in range(n)) / n for _ in range(samples))
    tail = (1.0 - level) / 2
    return quantile(means, tail), quantile(means, 1.0 - tail)


@dataclass(frozen=True)
class Paired:
    """a against b on the items both were validly judged on."""

    a: str
    b: str
    n: int
    delta: float | None
    ci: tuple[float, float] | None
    p_value: float | None
    better: int  # items where a scored higher
    worse: int
    same: int
    kind: Literal["paired", "head_to_head"] = "paired"

    def outcome(self, alpha: float) -> Outcome:
        """better/worse only when the CI excludes 0 and the sign test agrees."""
        if self.n == 0 or self.ci is None or self.p_value is None:
            return "untested" if self.n == 0 else "none"
        if self.p_value >= alpha:
            return "none"
        if self.ci[0] > 0:
            return "better"
        return "worse" if self.ci[1] < 0 else "none"

    def sentence(self, alpha: float) -> str:
        """One plain sentence of what the data supports."""
        outcome = self.outcome(alpha)
        if outcome == "untested":
            return f"{self.a} and {self.b} could not be compared: no item was judged for both."
        stats = f"sign test p = {self.p_value:.3g}" if self.p_value is not None else ""
        if outcome in ("better", "worse"):
            assert self.delta is not None and self.ci is not None
            verb = "beats" if outcome == "better" else "trails"
            return (
                f"{self.a} {verb} {self.b} by {_signed(self.delta)} "
                f"[{_signed(self.ci[0])}, {_signed(self.ci[1])}] on {self.n} items ({stats})."
            )
        spans = (
            f"the interval spans {_signed(self.ci[0])} to {_signed(self.ci[1])}; {stats}"
            if self.ci
            else stats or "no interval"
        )
        return f"No detectable difference between {self.a} and {self.b} at n = {self.n} ({spans})."

    @property
    def key(self) -> str:
        return f"{self.a}_vs_{self.b}"

    def as_metrics(self, prefix: str = "paired.") -> dict[str, float | int | None]:
        """`paired.<a>_vs_<b>.delta/.ci_low/.ci_high/.p_value/.n` (head to head: `.win_rate`)."""
        base = f"{prefix}{self.key}."
        value_key = "win_rate" if self.kind == "head_to_head" else "delta"
        shift = 0.5 if self.kind == "head_to_head" else 0.0
        return {
            base + value_key: _round(None if self.delta is None else self.delta + shift),
            base + "ci_low": _round(None if self.ci is None else self.ci[0] + shift),
            base + "ci_high": _round(None if self.ci is None else self.ci[1] + shift),
            base + "p_value": None if self.p_value is None else float(f"{self.p_value:.3g}"),
            base + "n": self.n,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _signed(value: float) -> str:
    return f"{value:+.2f}".replace("-", "\u2212")


def from_differences(
    a: str,
    b: str,
    differences: Mapping[str, float],
    *,
    samples: int,
    seed: int,
    kind: Literal["paired", "head_to_head"] = "paired",
) -> Paired:
    """The comparison of per-item differences (a minus b), in item order."""
    values = list(differences.values())
    better = sum(d > 0 for d in values)
    worse = sum(d < 0 for d in values)
    return Paired(
        a=a, b=b, n=len(values), delta=sum(values) / len(values) if values else None,
        ci=bootstrap_mean(values, samples=samples, seed=seed),
        p_value=sign_test(better, worse) if values else None,
        better=better, worse=worse, same=len(values) - better - worse, kind=kind,
    )  # fmt: skip


def compare(
    verdicts_a: Iterable[Verdict], verdicts_b: Iterable[Verdict], a: str, b: str, *,
    samples: int, seed: int,
) -> Paired:  # fmt: skip
    """a vs b, each judged against the same references, on the items both were scored on."""
    scores_a, scores_b = item_means(verdicts_a), item_means(verdicts_b)
    shared = {item: scores_a[item] - scores_b[item] for item in scores_a if item in scores_b}
    return from_differences(a, b, shared, samples=samples, seed=seed)


def head_to_head(verdicts: Iterable[Verdict], a: str, b: str, *, samples: int, seed: int) -> Paired:
    """a's answer judged directly against b's (b in the reference slot), both orders."""
    shifted = {item: score - 0.5 for item, score in item_means(verdicts).items()}
    return from_differences(a, b, shifted, samples=samples, seed=seed, kind="head_to_head")


def default_pairs(candidates: Sequence[str], tuned: str = "student") -> list[tuple[str, str]]:
    """The tuned model against every other candidate (base, champion, ...), if it is there."""
    if tuned not in candidates:
        return []
    return [(tuned, other) for other in candidates if other != tuned]


def compare_all(
    verdicts: Sequence[Verdict],
    pairs: Sequence[tuple[str, str]],
    *,
    samples: int,
    seed: int,
) -> list[Paired]:
    """Every pair compared on one eval set's verdicts."""
    by_candidate: dict[str, list[Verdict]] = {}
    for verdict in verdicts:
        by_candidate.setdefault(verdict.candidate, []).append(verdict)
    return [
        compare(by_candidate.get(a, []), by_candidate.get(b, []), a, b, samples=samples, seed=seed)
        for a, b in pairs
    ]
