"""One evaluation report: judge win rates, MCQ accuracy and whether the judge can be trusted.

`write_report(out_dir, judge_metrics, mcq_metrics, calibration)` writes
`out_dir/report.md` and the PNGs it links. Output is a pure function of the
inputs (no timestamps, sorted keys, PNGs without a software/date tag), so DVC
sees no change when the numbers do not change.

Accepted shapes (every metric may be None when it could not be computed):

judge_metrics: per reference answer set (what the candidates were judged
against, e.g. "gpt-4" or "reference"), per candidate model::

    {"<reference>": {"<candidate>": {
        "win_rate": 0.62, "win_rate_ci": [0.55, 0.69],
        "lc_win_rate": 0.58, "lc_win_rate_ci": [0.50, 0.66],   # ci optional
        "invalid_rate": 0.03,       # share of verdicts that could not be parsed
        "position1_rate": 0.51,     # share of valid verdicts that picked the first answer shown
        "kappa": 0.44,              # optional: the judge's agreement statistic
        "n": 40}}}                  # optional: items

  A reference may also map straight to one metrics dict (then the candidate is
  called "student"); flat `win_rate_ci_low`/`win_rate_ci_high` keys are accepted
  in place of `win_rate_ci` (likewise for lc_win_rate).

mcq_metrics: per model, the dict `medinstruct_eval.mcq.run_mcq` returns::

    {"base": {"subjects": {"mmlu_anatomy": {"acc": .., "acc_stderr": .., "acc_norm": ..,
              "acc_norm_stderr": .., "n": ..}}, "macro": {"acc": .., ...},
              "skipped": {"medqa": "why"}}, "student": {...}}

calibration: the judge's check on pairs with a known better answer::

    {"passed": true, "accuracy": 0.9, "threshold": 0.8, "n": 20, "detail": "..."}

  (None or {} when no calibration ran.)

The judge is reported as too weak to trust when it picks one position more
than 90% of the time (position1_rate > 0.9 or < 0.1), when more than 20% of its
verdicts are invalid, or when calibration failed. The report says so in a plain
sentence above the win rates, because a biased judge's win rate measures the
judge, not the model.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from medinstruct_core.io import atomic_open, write_text

POSITION_LIMIT = 0.9
INVALID_LIMIT = 0.2
Z_95 = 1.96
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
FIGURES = {
    "win_rates": "win_rates.png",
    "mcq": "mcq_accuracy.png",
    "invalid": "judge_invalid.png",
    "position": "judge_position.png",
}

JudgeMetrics = Mapping[str, Mapping[str, Any]]


def save_figure(fig: Figure, path: Path) -> Path:
    """Render to memory, then write atomically; no Software tag, so the bytes are reproducible."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    with atomic_open(path, "wb", encoding=None) as handle:
        handle.write(buffer.getvalue())
    return path


def normalize_judge(judge_metrics: JudgeMetrics | None) -> dict[str, dict[str, dict[str, Any]]]:
    """reference -> candidate -> metrics, sorted; a bare metrics dict becomes candidate "student"."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for reference in sorted(judge_metrics or {}):
        entry = judge_metrics[reference]  # type: ignore[index]
        per_candidate = {"student": entry} if "win_rate" in entry else entry
        out[reference] = {c: _with_ci_pairs(per_candidate[c]) for c in sorted(per_candidate)}
    return out


def _with_ci_pairs(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """Accept flat `<m>_ci_low` / `<m>_ci_high` keys (metrics.summarize's style) as `<m>_ci` pairs."""
    out = dict(metrics)
    for metric in ("win_rate", "lc_win_rate"):
        low, high = out.get(f"{metric}_ci_low"), out.get(f"{metric}_ci_high")
        if f"{metric}_ci" not in out and low is not None and high is not None:
            out[f"{metric}_ci"] = [low, high]
    return out


def candidates_of(judge: Mapping[str, Mapping[str, Any]]) -> list[str]:
    return sorted({c for per_candidate in judge.values() for c in per_candidate})


# --- trust ---------------------------------------------------------------------------


def trust_problems(
    judge: Mapping[str, Mapping[str, Mapping[str, Any]]], calibration: Mapping[str, Any] | None
) -> list[str]:
    """Plain sentences, one per reason the judge's verdicts should not be trusted."""
    problems = []
    for reference, per_candidate in judge.items():
        for candidate, m in per_candidate.items():
            problems += _position_problem(reference, candidate, m.get("position1_rate"))
            invalid = m.get("invalid_rate")
            if invalid is not None and invalid > INVALID_LIMIT:
                problems.append(
                    f"Against {reference}, {_pct(invalid)} of the judge's verdicts on {candidate} "
                    f"were invalid (limit {_pct(INVALID_LIMIT)}): the judge often cannot follow the format."
                )
    if calibration and calibration.get("passed") is False:
        detail = f" ({calibration['detail']})" if calibration.get("detail") else ""
        problems.append(
            "The judge failed calibration: on pairs with a known better answer it was right "
            f"{_pct(calibration.get('accuracy'))} of the time, below the required "
            f"{_pct(calibration.get('threshold'))}{detail}."
        )
    return problems


def _position_problem(reference: str, candidate: str, rate: float | None) -> list[str]:
    if rate is None or (1 - POSITION_LIMIT) <= rate <= POSITION_LIMIT:
        return []
    side, share = ("first", rate) if rate > POSITION_LIMIT else ("second", 1 - rate)
    return [
        f"Against {reference}, the judge picked the {side} answer shown in {_pct(share)} of its "
        f"valid verdicts on {candidate}: it judges position, not content."
    ]


# --- formatting ----------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _num(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _with_ci(value: float | None, ci: Sequence[float] | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else f"{value:.3f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def judge_section(
    judge: Mapping[str, Mapping[str, Mapping[str, Any]]], problems: list[str]
) -> list[str]:
    lines = ["## LLM judge: win rates against reference answers", ""]
    if not judge:
        return [*lines, "No judge metrics were given.", ""]
    if problems:
        lines += [
            "**The judge is too weak to trust; read the win rates below as a property of the judge.**",
            "",
        ]
        lines += [f"- {p}" for p in problems] + [""]
    rows = [
        [
            reference, candidate, _with_ci(m.get("win_rate"), m.get("win_rate_ci")),
            _with_ci(m.get("lc_win_rate"), m.get("lc_win_rate_ci")), _pct(m.get("invalid_rate")),
            _pct(m.get("position1_rate")), _num(m.get("kappa")), str(m.get("n", "n/a")),
        ]
        for reference, per_candidate in judge.items()
        for candidate, m in per_candidate.items()
    ]  # fmt: skip
    header = ["reference", "model", "win rate [95% CI]", "LC win rate [95% CI]",
              "invalid", "picked 1st", "kappa", "n"]  # fmt: skip
    lines += _table(header, rows)
    lines += ["", f"![win rates]({FIGURES['win_rates']})", ""]
    lines += [
        f"![invalid verdicts]({FIGURES['invalid']})",
        f"![position bias]({FIGURES['position']})",
        "",
    ]
    return lines


def calibration_section(calibration: Mapping[str, Any] | None) -> list[str]:
    lines = ["## Judge calibration", ""]
    if not calibration:
        return [*lines, "No calibration was run.", ""]
    verdict = {True: "passed", False: "FAILED", None: "not decided"}[calibration.get("passed")]
    lines.append(
        f"Calibration {verdict}: right on {_pct(calibration.get('accuracy'))} of "
        f"{calibration.get('n', 'n/a')} pairs with a known better answer "
        f"(required {_pct(calibration.get('threshold'))})."
    )
    if calibration.get("detail"):
        lines.append(f"{calibration['detail']}")
    return [*lines, ""]


def mcq_subjects(mcq: Mapping[str, Mapping[str, Any]]) -> list[str]:
    return sorted({s for result in mcq.values() for s in result.get("subjects", {})})


def mcq_section(mcq: Mapping[str, Mapping[str, Any]]) -> list[str]:
    shots = "/".join(sorted({str(r.get("num_fewshot", 0)) for r in mcq.values()})) or "0"
    lines = [f"## Medical multiple choice (lm-evaluation-harness, {shots}-shot accuracy)", ""]
    if not mcq:
        return [*lines, "No multiple-choice results were given.", ""]
    models = sorted(mcq)
    rows = []
    for subject in mcq_subjects(mcq):
        cells = [_acc_cell(mcq[m].get("subjects", {}).get(subject)) for m in models]
        rows.append([subject, *cells])
    rows.append(["**macro average**", *[_num(mcq[m].get("macro", {}).get("acc")) for m in models]])
    lines += _table(["subject", *(f"{m} acc ± stderr (n)" for m in models)], rows)
    skipped = sorted(
        {f"{name}: {why}" for m in models for name, why in mcq[m].get("skipped", {}).items()}
    )
    if skipped:
        lines += ["", "Skipped benchmarks:"] + [f"- {s}" for s in skipped]
    return [*lines, "", f"![MCQ accuracy]({FIGURES['mcq']})", ""]


def _acc_cell(subject: Mapping[str, Any] | None) -> str:
    if not subject or subject.get("acc") is None:
        return "n/a"
    stderr = subject.get("acc_stderr")
    spread = f" ± {stderr:.3f}" if stderr is not None else ""
    return f"{subject['acc']:.3f}{spread} ({subject.get('n', 'n/a')})"


# --- figures -------------------------------------------------------------------------


def _error(value: float | None, ci: Sequence[float] | None) -> tuple[float, float]:
    if value is None or not ci:
        return 0.0, 0.0
    return max(0.0, value - ci[0]), max(0.0, ci[1] - value)


def _grouped_bars(
    ax: Any, groups: list[str], series: dict[str, list[tuple[float | None, Any]]]
) -> None:
    """Vertical bars: one group per x label, one colour per series, CI error bars where given."""
    width = 0.8 / max(len(series), 1)
    for i, (name, points) in enumerate(series.items()):
        xs = [g + (i - (len(series) - 1) / 2) * width for g in range(len(groups))]
        heights = [p[0] or 0.0 for p in points]
        spans = [_error(p[0], p[1]) for p in points]
        errors = [[low for low, _ in spans], [high for _, high in spans]]
        ax.bar(
            xs, heights, width, label=name, color=COLORS[i % len(COLORS)], yerr=errors, capsize=3
        )
    ax.set_xticks(range(len(groups)), groups, rotation=20, ha="right")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)


def win_rate_figure(judge: Mapping[str, Mapping[str, Mapping[str, Any]]], path: Path) -> Path:
    references, candidates = list(judge), candidates_of(judge)
    fig = Figure(figsize=(10, 4))
    for k, (metric, title) in enumerate(
        (("win_rate", "Win rate"), ("lc_win_rate", "Length-controlled win rate"))
    ):
        ax = fig.add_subplot(1, 2, k + 1)
        series = {
            c: [
                (judge[r].get(c, {}).get(metric), judge[r].get(c, {}).get(f"{metric}_ci"))
                for r in references
            ]
            for c in candidates
        }
        _grouped_bars(ax, references, series)
        ax.axhline(0.5, color="grey", linestyle="--", linewidth=1)
        ax.set_title(title)
        ax.set_xlabel("reference answers")
    return save_figure(fig, path)


def rate_figure(
    judge: Mapping[str, Mapping[str, Mapping[str, Any]]],
    metric: str,
    title: str,
    lines: Sequence[float],
    path: Path,
) -> Path:
    references, candidates = list(judge), candidates_of(judge)
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    series = {c: [(judge[r].get(c, {}).get(metric), None) for r in references] for c in candidates}
    _grouped_bars(ax, references, series)
    for y in lines:
        ax.axhline(y, color="red", linestyle=":", linewidth=1)
    ax.set_title(title)
    return save_figure(fig, path)


def mcq_figure(mcq: Mapping[str, Mapping[str, Any]], path: Path) -> Path:
    subjects, models = mcq_subjects(mcq), sorted(mcq)
    fig = Figure(figsize=(max(6, 1.2 * len(subjects) + 2), 4))
    ax = fig.add_subplot()
    series = {}
    for m in models:
        points = []
        for s in subjects:
            row = mcq[m].get("subjects", {}).get(s) or {}
            acc, se = row.get("acc"), row.get("acc_stderr")
            ci = [acc - Z_95 * se, acc + Z_95 * se] if acc is not None and se is not None else None
            points.append((acc, ci))
        series[m] = points
    _grouped_bars(ax, subjects, series)
    ax.axhline(0.25, color="grey", linestyle="--", linewidth=1)  # chance for 4 options
    ax.set_ylabel("accuracy (95% CI)")
    ax.set_title("Medical multiple choice accuracy (dashed: chance for 4 options)")
    return save_figure(fig, path)


# --- entry point ---------------------------------------------------------------------


def write_report(
    out_dir: str | Path,
    judge_metrics: JudgeMetrics | None,
    mcq_metrics: Mapping[str, Mapping[str, Any]] | None,
    calibration: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Write report.md and its figures; returns {"report", "figures", "judge_trusted", "problems"}."""
    out = Path(out_dir)
    judge = normalize_judge(judge_metrics)
    mcq = {m: mcq_metrics[m] for m in sorted(mcq_metrics or {})}  # type: ignore[index]
    problems = trust_problems(judge, calibration)
    figures = _write_figures(out, judge, mcq)
    lines = ["# Evaluation report", ""]
    lines += judge_section(judge, problems) + calibration_section(calibration) + mcq_section(mcq)
    report = out / "report.md"
    write_text(report, "\n".join(lines).rstrip() + "\n")
    return {
        "report": str(report),
        "figures": [str(p) for p in figures],
        "judge_trusted": not problems,
        "problems": problems,
    }


def _write_figures(out: Path, judge: Mapping[str, Any], mcq: Mapping[str, Any]) -> list[Path]:
    figures = []
    if judge:
        figures.append(win_rate_figure(judge, out / FIGURES["win_rates"]))
        figures.append(rate_figure(judge, "invalid_rate", "Invalid verdicts (share)",
                                   [INVALID_LIMIT], out / FIGURES["invalid"]))  # fmt: skip
        figures.append(rate_figure(judge, "position1_rate", "Judge picked the first answer shown",
                                   [1 - POSITION_LIMIT, POSITION_LIMIT], out / FIGURES["position"]))  # fmt: skip
    if mcq:
        figures.append(mcq_figure(mcq, out / FIGURES["mcq"]))
    return figures
