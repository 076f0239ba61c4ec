"""Judge calibration: can this judge tell a good answer from a clearly worse one, in both orders?

data/eval/calibration.jsonl pairs each question's reference answer with an answer
that is clearly worse: the reference of another question, or a truncated answer
stating a wrong, unsafe fact. A judge worth trusting picks the good answer nearly
every time whichever position it is shown in. So the numbers are the accuracy in
each order, and the share of decisive verdicts that went to the first-shown
answer (0.5 for a judge without position bias, since the good answer is first
in exactly half of the judgements).

The pairs go through the same prompts, client and parser as the real judging
(judge.judge_panel): the worse answer is the "candidate", the good one the
"reference", so what is calibrated is exactly what the eval stage will run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from medinstruct_core.cli import StageFailed
from medinstruct_core.io import DataError, read_jsonl
from medinstruct_core.llm.config import Sampling
from medinstruct_core.records import EvalItem, Record, Verdict, normalize_input
from medinstruct_eval.config import CalibrationThresholds, Untrusted
from medinstruct_eval.judge import JudgeClient, Judges, PanelVerdict, judge_panel, name_judges
from medinstruct_eval.metrics import Metrics, first_position_rate, metric_name, wilson_interval

WORSE = "worse"  # the candidate name of the worse answers in the verdicts
EVAL_SET = "calibration"


class CalibrationItem(Record):
    """A question, its good (reference) answer and a clearly worse one."""

    id: str = Field(min_length=1)
    source_id: str = ""
    kind: Literal["truncated_wrong_fact", "other_question"]
    bad_from: str = ""
    instruction: str = Field(min_length=1)
    input: str = ""
    good: str = Field(min_length=1)
    bad: str = Field(min_length=1)

    @field_validator("input", mode="before")
    @classmethod
    def _normalize_input(cls, value: Any) -> str:
        return normalize_input(value)


def load_calibration(path: str | Path) -> list[CalibrationItem]:
    """The calibration items; a repeated id is an error (verdicts are matched by id)."""
    items = read_jsonl(path, CalibrationItem)
    seen: set[str] = set()
    for index, item in enumerate(items, start=1):
        if item.id in seen:
            raise DataError(f"{path}: record {index}: field 'id': duplicate id {item.id!r}")
        seen.add(item.id)
    return items


def as_judging(items: Sequence[CalibrationItem]) -> tuple[list[EvalItem], dict[str, list[str]]]:
    """The items as eval items (reference = good answer) and the worse answers as a candidate."""
    evals = [
        EvalItem(
            id=i.id, instruction=i.instruction, input=i.input, reference=i.good, source=EVAL_SET
        )
        for i in items
    ]
    return evals, {WORSE: [i.bad for i in items]}


@dataclass(frozen=True)
class CalibrationMetrics:
    """One judge on the calibration set. Accuracies count ties and invalid replies as misses."""

    judge: str
    judgements: int
    accuracy_good_first: float | None
    accuracy_good_second: float | None
    position1_rate: float | None
    tie_rate: float | None
    invalid_rate: float | None
    # Judgements in each order: the n behind each accuracy (0 = not recorded).
    n_good_first: int = 0
    n_good_second: int = 0

    def as_metrics(self, prefix: str = "calibration_") -> Metrics:
        """Flat `calibration_<judge>_<name>` metrics for DVC and MLflow."""
        values = {k: v for k, v in asdict(self).items() if k != "judge"}
        return {f"{prefix}{metric_name(self.judge)}_{k}": v for k, v in values.items()}


def _share(verdicts: Sequence[Verdict], winner: str) -> float | None:
    return round(sum(v.winner == winner for v in verdicts) / len(verdicts), 4) if verdicts else None


def judge_calibration_metrics(judge: str, verdicts: Sequence[Verdict]) -> CalibrationMetrics:
    """Accuracy in each order: reference_first = good answer shown first."""
    good_first = [v for v in verdicts if v.order == "reference_first"]
    good_second = [v for v in verdicts if v.order == "candidate_first"]
    position = first_position_rate(verdicts)
    return CalibrationMetrics(
        judge=judge,
        judgements=len(verdicts),
        accuracy_good_first=_share(good_first, "reference"),
        accuracy_good_second=_share(good_second, "reference"),
        position1_rate=None if position is None else round(position, 4),
        tie_rate=_share(verdicts, "tie"),
        invalid_rate=_share(verdicts, "invalid"),
        n_good_first=len(good_first),
        n_good_second=len(good_second),
    )


def calibration_metrics(verdicts: Sequence[PanelVerdict]) -> dict[str, CalibrationMetrics]:
    """judge -> its calibration metrics, judges in first-seen order."""
    by_judge: dict[str, list[Verdict]] = {}
    for verdict in verdicts:
        by_judge.setdefault(verdict.judge, []).append(verdict)
    return {judge: judge_calibration_metrics(judge, own) for judge, own in by_judge.items()}


def judge_calibration(
    judges: Judges,
    items: Sequence[CalibrationItem],
    sampling: Sampling | Mapping[str, Sampling],
    *,
    progress: bool = False,
) -> list[PanelVerdict]:
    """Every judge on every calibration pair, both orders (cached like all judge calls)."""
    evals, answers = as_judging(items)
    return judge_panel(judges, evals, answers, sampling, eval_set=EVAL_SET, progress=progress)


def run_calibration(
    judges: Judges,
    items: Sequence[CalibrationItem],
    sampling: Sampling | Mapping[str, Sampling],
    *,
    progress: bool = False,
) -> dict[str, CalibrationMetrics]:
    """Judge the calibration set with each judge and return judge -> metrics."""
    return calibration_metrics(judge_calibration(judges, items, sampling, progress=progress))


def _pct(value: float) -> str:
    return f"{value:.0%}"


def _accuracy_text(accuracy: float | None, n: int) -> str:
    """ "8 of 12 pairs (67%, 95% CI 39%-86%)": at a dozen pairs the interval is what
    says how much the share can be trusted; "67% of pairs" where n is unknown."""
    if accuracy is None:
        return "no judgement of pairs"
    if n <= 0:
        return f"{_pct(accuracy)} of pairs"
    right = round(accuracy * n)
    low, high = wilson_interval(right, n) or (0.0, 1.0)
    return f"{right} of {n} pairs ({_pct(accuracy)}, 95% CI {_pct(low)}-{_pct(high)})"


def judge_trustworthy(
    metrics: CalibrationMetrics, thresholds: CalibrationThresholds | None = None
) -> tuple[bool, str]:
    """(trusted, reason): the reason is a plain sentence naming every threshold missed, else ""."""
    limits = thresholds or CalibrationThresholds()
    problems = []
    for order, accuracy, n in (
        ("shown first", metrics.accuracy_good_first, metrics.n_good_first),
        ("shown second", metrics.accuracy_good_second, metrics.n_good_second),
    ):
        if accuracy is None or accuracy < limits.min_accuracy:
            problems.append(
                f"it picked the better answer {order} in {_accuracy_text(accuracy, n)} "
                f"(needs at least {_pct(limits.min_accuracy)})"
            )
    position = metrics.position1_rate
    if position is None:
        problems.append("it gave no decisive verdict, so its position bias is unknown")
    elif not limits.position_low <= position <= limits.position_high:
        problems.append(
            f"it chose the first-shown answer in {_pct(position)} of decisive verdicts "
            f"(needs {_pct(limits.position_low)} to {_pct(limits.position_high)})"
        )
    if not problems:
        return True, ""
    return False, f"Judge {metrics.judge!r} is not trustworthy: " + "; ".join(problems) + "."


def calibration_summary(
    results: Mapping[str, CalibrationMetrics], thresholds: CalibrationThresholds | None = None
) -> Metrics:
    """Every judge's calibration metrics plus `calibration_<judge>_trusted` (1/0), flat."""
    flat: Metrics = {}
    for judge, metrics in results.items():
        flat.update(metrics.as_metrics())
        flat[f"calibration_{metric_name(judge)}_trusted"] = int(
            judge_trustworthy(metrics, thresholds)[0]
        )
    return flat


class UntrustedJudge(StageFailed):
    """calibration.on_untrusted: fail, and a judge failed calibration."""


def trusted_panel(
    judges: Judges,
    results: Mapping[str, CalibrationMetrics],
    thresholds: CalibrationThresholds | None = None,
    policy: Untrusted = "warn",
) -> tuple[dict[str, JudgeClient], list[str]]:
    """The panel to judge with after calibration, and the reasons for every untrusted judge.

    warn keeps every judge; drop leaves the untrusted ones out (but never all of
    them: an empty panel would judge nothing, so that raises); fail raises at the
    first untrusted judge. A judge without calibration results counts as untrusted.
    """
    named = name_judges(judges)
    reasons: dict[str, str] = {}
    for name in named:
        if name not in results:
            reasons[name] = f"Judge {name!r} was not calibrated."
            continue
        ok, reason = judge_trustworthy(results[name], thresholds)
        if not ok:
            reasons[name] = reason
    if reasons and policy == "fail":
        raise UntrustedJudge(" ".join(reasons.values()))
    kept = {n: c for n, c in named.items() if policy == "warn" or n not in reasons}
    if not kept:
        raise UntrustedJudge("every judge failed calibration: " + " ".join(reasons.values()))
    return kept, list(reasons.values())


def report_summary(
    results: Mapping[str, CalibrationMetrics], thresholds: CalibrationThresholds | None = None
) -> dict[str, Any]:
    """The panel's calibration in the shape eval_report.write_report reads.

    {"passed", "accuracy", "threshold", "n", "detail"}: passed only if every judge
    is trustworthy; accuracy is the worst accuracy of any judge in either order
    (the number that decides); detail holds the reasons, or each judge's numbers.
    """
    if not results:
        return {}
    limits = thresholds or CalibrationThresholds()
    verdicts = {judge: judge_trustworthy(m, limits) for judge, m in results.items()}
    accuracies = [
        a
        for m in results.values()
        for a in (m.accuracy_good_first, m.accuracy_good_second)
        if a is not None
    ]
    reasons = [reason for ok, reason in verdicts.values() if not ok]
    numbers = "; ".join(
        f"{m.judge}: right on {_accuracy_text(m.accuracy_good_first, m.n_good_first)} with the "
        f"better answer first, {_accuracy_text(m.accuracy_good_second, m.n_good_second)} "
        f"second, first-shown picked {_pct_or(m.position1_rate)}"
        for m in results.values()
    )
    return {
        "passed": not reasons,
        "accuracy": min(accuracies) if len(accuracies) == 2 * len(results) else None,
        "threshold": limits.min_accuracy,
        "n": max(m.judgements for m in results.values()) // 2,
        "detail": " ".join(reasons) if reasons else numbers,
    }


def _pct_or(value: float | None) -> str:
    return "n/a" if value is None else _pct(value)
