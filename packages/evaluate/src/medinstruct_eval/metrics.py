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
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
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


# -- agreement: between judges and between the two orders ------------------------------
def cohen_kappa(a: Sequence[str], b: Sequence[str]) -> float | None:
    """Cohen's kappa of two raters' labels for the same units.

    kappa = (p_o - p_e) / (1 - p_e): observed agreement corrected for the agreement
    expected by chance from each rater's own label frequencies. None when there is
    nothing to compare or chance agreement is already 1 (both raters always gave the
    same single label: agreement is then uninformative, not perfect).
    """
    if len(a) != len(b):
        raise ValueError(f"kappa needs paired labels: {len(a)} vs {len(b)}")
    n = len(a)
    if n == 0:
        return None
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    labels = set(a) | set(b)
    expected = sum((list(a).count(label) / n) * (list(b).count(label) / n) for label in labels)
    if expected >= 1.0:
        return None
    return (observed - expected) / (1.0 - expected)


def _valid_by(
    verdicts: Iterable[Verdict], key: Callable[[Verdict], tuple[str, ...]]
) -> dict[tuple[str, ...], str]:
    return {key(v): v.winner for v in verdicts if v.winner != "invalid"}


def order_kappa(verdicts: Iterable[Verdict]) -> float | None:
    """Kappa between the two presentation orders, in candidate/reference terms.

    A judge free of position bias says the same thing whichever answer is shown
    first; units are (judge, item, candidate) pairs judged validly in both orders.
    """
    own = list(verdicts)
    first = _valid_by(own, lambda v: (_judge(v), v.item_id, v.candidate, v.order))
    units = sorted(
        {
            k[:3]
            for k in first
            if (*k[:3], "candidate_first") in first and (*k[:3], "reference_first") in first
        }
    )
    return cohen_kappa(
        [first[(*u, "candidate_first")] for u in units],
        [first[(*u, "reference_first")] for u in units],
    )


def judge_kappa(verdicts: Iterable[Verdict], judge_a: str, judge_b: str) -> float | None:
    """Kappa between two judges on the (item, candidate, order) units both judged validly."""
    own = list(verdicts)
    a = _valid_by((v for v in own if _judge(v) == judge_a), _unit)
    b = _valid_by((v for v in own if _judge(v) == judge_b), _unit)
    shared = sorted(set(a) & set(b))
    return cohen_kappa([a[u] for u in shared], [b[u] for u in shared])


def _unit(verdict: Verdict) -> tuple[str, str, str]:
    return (verdict.item_id, verdict.candidate, verdict.order)


def _judge(verdict: Verdict) -> str:
    """A plain Verdict has no judge: it is the single judge ""."""
    return str(getattr(verdict, "judge", ""))


# -- the length-controlled win rate (AlpacaEval 2) ---------------------------------------
@dataclass(frozen=True)
class LengthGLM:
    """logit P(candidate wins) = intercept + slope * tanh(length_delta / scale).

    `intercept` is the candidate's quality with length taken out: the LC win rate
    is the model's prediction at zero length difference, sigmoid(intercept).
    """

    intercept: float
    slope: float
    scale: float

    def predict(self, length_delta: float) -> float:
        feature = math.tanh(length_delta / self.scale) if self.scale > 0 else 0.0
        return _sigmoid(self.intercept + self.slope * feature)

    @property
    def lc_win_rate(self) -> float:
        return _sigmoid(self.intercept)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def length_feature(deltas: Sequence[float]) -> tuple[list[float], float]:
    """tanh(delta / std(delta)) as AlpacaEval 2 scales it, and the std (0: no variation)."""
    n = len(deltas)
    mean = sum(deltas) / n if n else 0.0
    scale = math.sqrt(sum((d - mean) ** 2 for d in deltas) / (n - 1)) if n > 1 else 0.0
    if scale == 0.0:
        return [0.0] * n, 0.0
    return [math.tanh(d / scale) for d in deltas], scale


def fit_length_glm(
    outcomes: Sequence[float], length_deltas: Sequence[float], *, penalty: float = 0.01
) -> LengthGLM | None:
    """Fit the logistic GLM of outcome (1 win, 0.5 tie, 0 loss) on the scaled length difference.

    Newton-Raphson on the binomial log-likelihood (a tie is half a win, as a soft
    label) with an L2 `penalty` on the length slope only, as a ridge: when the
    longer answer always wins the data are separable and the unpenalised slope
    would run to infinity. The intercept is not penalised, so it stays the
    candidate's length-free strength. None when there is nothing to fit.
    """
    if len(outcomes) != len(length_deltas):
        raise ValueError(f"{len(outcomes)} outcomes for {len(length_deltas)} length deltas")
    if not outcomes:
        return None
    features, scale = length_feature(length_deltas)
    beta = [0.0, 0.0]
    for _ in range(100):
        step = _newton_step(outcomes, features, beta, penalty)
        beta = [beta[0] - step[0], beta[1] - step[1]]
        if max(abs(step[0]), abs(step[1])) < 1e-10:
            break
    return LengthGLM(intercept=beta[0], slope=beta[1], scale=scale)


def _newton_step(
    y: Sequence[float], x: Sequence[float], beta: Sequence[float], penalty: float
) -> tuple[float, float]:
    """H^-1 g for the penalised negative log-likelihood (2x2, solved in closed form).

    A tiny ridge on the intercept too keeps the Hessian invertible when every
    outcome is the same (all wins); it moves the estimate by less than 1e-6.
    """
    g0 = g1 = 0.0
    h00, h01, h11 = 1e-6, 0.0, penalty
    for yi, xi in zip(y, x, strict=True):
        p = _sigmoid(beta[0] + beta[1] * xi)
        w = max(p * (1.0 - p), 1e-12)
        g0, g1 = g0 + (p - yi), g1 + (p - yi) * xi
        h00, h01, h11 = h00 + w, h01 + w * xi, h11 + w * xi * xi
    g0 += 1e-6 * beta[0]
    g1 += penalty * beta[1]
    det = h00 * h11 - h01 * h01
    return ((h11 * g0 - h01 * g1) / det, (h00 * g1 - h01 * g0) / det)


def length_outcomes(verdicts: Iterable[Verdict]) -> tuple[list[float], list[float]]:
    """(outcome, candidate chars - reference chars) of every valid verdict with lengths."""
    outcomes, deltas = [], []
    for verdict in verdicts:
        if verdict.winner == "invalid":
            continue
        outcomes.append(POINTS[verdict.winner])
        deltas.append(
            float(getattr(verdict, "candidate_chars", 0) - getattr(verdict, "reference_chars", 0))
        )
    return outcomes, deltas


def lc_win_rate(verdicts: Iterable[Verdict], *, penalty: float = 0.01) -> float | None:
    """The length-controlled win rate: the GLM's win probability at zero length difference."""
    glm = fit_length_glm(*length_outcomes(verdicts), penalty=penalty)
    return None if glm is None else glm.lc_win_rate


# -- a panel of judges over several eval sets --------------------------------------------
def metric_name(text: str) -> str:
    """A judge/eval-set name as a metric-key fragment (MLflow allows [\\w./ -] only)."""
    return re.sub(r"[^\w.\-]+", "_", text).strip("_") or "unnamed"


def _first_seen(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _group(verdicts: Iterable[Verdict], key: Callable[[Verdict], str]) -> dict[str, list[Verdict]]:
    groups: dict[str, list[Verdict]] = {}
    for verdict in verdicts:
        groups.setdefault(key(verdict), []).append(verdict)
    return groups


def candidate_summary(
    verdicts: Sequence[Verdict],
    *,
    samples: int,
    seed: int,
    max_invalid_rate: float = 0.1,
    lc_penalty: float = 0.01,
    min_items_lc: int = 1,
) -> Metrics:
    """One candidate on one eval set, pooled over judges and orders, plus per-judge numbers.

    The invalid rate sits next to the win rate and `invalid_flag` is 1 above
    `max_invalid_rate`: a rate computed on what the judge could read is only
    trustworthy if that is nearly everything. The LC win rate is None below
    `min_items_lc` items: the GLM has too little to fit (see leaderboard.py).
    """
    metrics = summarize(verdicts, samples=samples, seed=seed)
    invalid = metrics["invalid_rate"]
    metrics["invalid_flag"] = int(invalid is not None and invalid > max_invalid_rate)
    enough = int(metrics["items"] or 0) >= min_items_lc
    metrics["lc_win_rate"] = _round(lc_win_rate(verdicts, penalty=lc_penalty)) if enough else None
    metrics["order_kappa"] = _round(order_kappa(verdicts))
    by_judge = _group(verdicts, _judge)
    if len(by_judge) > 1:
        for judge, own in by_judge.items():
            counts = tally(own)
            prefix = f"judge_{metric_name(judge)}_"
            metrics[prefix + "win_rate"] = _round(counts.win_rate)
            metrics[prefix + "first_position_rate"] = _round(first_position_rate(own))
            metrics[prefix + "invalid_rate"] = _round(counts.invalid / counts.total)
            metrics[prefix + "order_kappa"] = _round(order_kappa(own))
    return metrics


def judge_agreement(verdicts: Sequence[Verdict]) -> Metrics:
    """Cohen's kappa for every pair of judges (over all candidates): `kappa_<a>_vs_<b>`."""
    judges = _first_seen(_judge(v) for v in verdicts)
    return {
        f"kappa_{metric_name(a)}_vs_{metric_name(b)}": _round(judge_kappa(verdicts, a, b))
        for i, a in enumerate(judges)
        for b in judges[i + 1 :]
    }


def panel_summary(
    verdicts: Sequence[Verdict],
    *,
    samples: int,
    seed: int,
    tuned: str = "student",
    baseline: str = "base",
    max_invalid_rate: float = 0.1,
    lc_penalty: float = 0.01,
    min_items_lc: int = 1,
) -> Metrics:
    """Flat metrics of every eval set (reference model): `<set>_<candidate>_win_rate`, ...

    Per set and candidate: raw win rate with its item-bootstrap interval, the
    length-controlled win rate, invalid rate and flag, first-position rate and the
    kappa between the two orders; per set: kappa between each pair of judges and the
    tuned - baseline delta. Verdicts without an eval set (plain Verdicts) form the
    set "" and get no set prefix.
    """
    flat: Metrics = {}
    for eval_set, own in _group(verdicts, lambda v: str(getattr(v, "eval_set", ""))).items():
        prefix = f"{metric_name(eval_set)}_" if eval_set else ""
        by_candidate = _group(own, lambda v: v.candidate)
        for candidate, theirs in by_candidate.items():
            summary = candidate_summary(
                theirs, samples=samples, seed=seed, max_invalid_rate=max_invalid_rate,
                lc_penalty=lc_penalty, min_items_lc=min_items_lc,
            )  # fmt: skip
            flat.update({f"{prefix}{candidate}_{k}": v for k, v in summary.items()})
        flat.update({prefix + k: v for k, v in judge_agreement(own).items()})
        delta = _delta(by_candidate, tuned, baseline, samples=samples, seed=seed)
        flat.update({prefix + k: v for k, v in delta.items()})
    return flat


def invalid_warnings(
    metrics: Mapping[str, float | int | None], max_invalid_rate: float
) -> list[str]:
    """A sentence for every pooled invalid rate above the limit (for the log and the report)."""
    return [
        f"{key.removesuffix('_invalid_rate')}: {value:.0%} of judge replies were invalid "
        f"(limit {max_invalid_rate:.0%}); its win rate rests on the rest only"
        for key, value in metrics.items()
        if key.endswith("_invalid_rate") and "_judge_" not in key
        and value is not None and value > max_invalid_rate
    ]  # fmt: skip


def nested_summary(
    verdicts: Sequence[Verdict],
    *,
    samples: int,
    seed: int,
    max_invalid_rate: float = 0.1,
    lc_penalty: float = 0.01,
    min_items_lc: int = 1,
) -> dict[str, dict[str, dict[str, object]]]:
    """{eval set: {candidate: metrics}} in the shape eval_report.write_report reads.

    The same numbers as panel_summary, nested rather than flat: win_rate with
    win_rate_ci [low, high], lc_win_rate, invalid_rate and invalid_flag,
    position1_rate, kappa (between the two orders) and n (items). A plain
    Verdict's empty eval set is called "reference".
    """
    nested: dict[str, dict[str, dict[str, object]]] = {}
    for eval_set, own in _group(verdicts, lambda v: str(getattr(v, "eval_set", ""))).items():
        per_candidate = nested.setdefault(eval_set or "reference", {})
        for candidate, theirs in _group(own, lambda v: v.candidate).items():
            m = candidate_summary(theirs, samples=samples, seed=seed,
                                  max_invalid_rate=max_invalid_rate, lc_penalty=lc_penalty,
                                  min_items_lc=min_items_lc)  # fmt: skip
            low, high = m["win_rate_ci_low"], m["win_rate_ci_high"]
            per_candidate[candidate] = {
                "win_rate": m["win_rate"],
                "win_rate_ci": None if low is None else [low, high],
                "lc_win_rate": m["lc_win_rate"],
                "invalid_rate": m["invalid_rate"],
                "invalid_flag": m["invalid_flag"],
                "position1_rate": m["first_position_rate"],
                "kappa": m["order_kappa"],
                "n": m["items"],
            }
    return nested


Z_95 = 1.959963984540054  # the standard normal's 97.5% quantile


def wilson_interval(successes: float, n: int, z: float = Z_95) -> tuple[float, float] | None:
    """Wilson score interval for a binomial proportion; None when n == 0 (`successes` may be
    fractional: an observed share times an effective n)."""
    if n == 0:
        return None
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)
