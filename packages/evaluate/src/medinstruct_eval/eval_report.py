"""The evaluation report: what the numbers support, then the leaderboard behind it.

`write_report(out_dir, data)` writes `out_dir/report.md`, `leaderboard.json` and
the PNGs the report links. Output is a pure function of `ReportData` (no
timestamps, PNGs without a software tag), so DVC sees no change when the numbers
do not change.

The report opens with one plain sentence per comparison that answers "did it
help?" (paired.py decides what the data supports: a difference counts only when
its interval excludes 0 and the sign test agrees), then says whether the judge can
be trusted (calibration *and* its first-position rate on the real verdicts), then:

1. the leaderboard, candidates x reference sets as in the paper's table: win rate
   [95% CI], LC win rate [95% CI] (or "too few items"), n, invalid share and the
   first-position rate [95% CI];
2. the paired comparisons (and the head-to-head ones when judged);
3. the champion decision, when a registered student was scored;
4. the judge's calibration and position bias;
5. the multiple-choice table, candidates x benchmarks, with the reason for every
   candidate or benchmark that was not scored.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from medinstruct_core.io import atomic_open, write_text
from medinstruct_eval.champion import Decision
from medinstruct_eval.leaderboard import PositionCheck, Row
from medinstruct_eval.paired import Paired

INVALID_LIMIT = 0.2
Z_95 = 1.96
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
FIGURES = {
    "win_rates": "win_rates.png",
    "paired": "paired.png",
    "position": "judge_position.png",
    "mcq": "mcq_accuracy.png",
}
LEADERBOARD = "leaderboard.json"


@dataclass
class ReportData:
    """Everything the report shows; every part may be empty."""

    rows: list[Row] = field(default_factory=list)
    paired: dict[str, list[Paired]] = field(default_factory=dict)  # per reference set
    head_to_head: dict[str, list[Paired]] = field(default_factory=dict)
    alpha: float = 0.05
    positions: list[PositionCheck] = field(default_factory=list)
    calibration: Mapping[str, Any] | None = None  # calibration.report_summary's shape
    mcq: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # per candidate
    decision: Decision | None = None
    champion_note: str = ""
    main_set: str = ""
    notes: list[str] = field(default_factory=list)  # answer failures, invalid-rate flags
    candidates: list[dict[str, str]] = field(default_factory=list)  # name, kind, source, template


def save_figure(fig: Figure, path: Path) -> Path:
    """Render to memory, then write atomically; no Software tag, so the bytes are reproducible."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    with atomic_open(path, "wb", encoding=None) as handle:
        handle.write(buffer.getvalue())
    return path


# --- what the data supports ---------------------------------------------------------


def headline(data: ReportData) -> list[str]:
    """The opening sentences: each comparison on the main set, else the best row."""
    comparisons = data.paired.get(data.main_set) or next(iter(data.paired.values()), [])
    if comparisons:
        return [p.sentence(data.alpha) for p in comparisons]
    rows = [r for r in data.rows if r.win_rate.value is not None]
    if not rows:
        return ["Nothing could be judged: no candidate has a valid verdict."]
    best = max(rows, key=lambda r: (r.win_rate.value or 0.0, r.candidate))
    return [
        f"No paired comparison (no candidate named student); the highest win rate is "
        f"{best.candidate}'s, {best.win_rate.cell()} against the {best.eval_set} references "
        f"on {best.n} items."
    ]


def trust_problems(data: ReportData) -> list[str]:
    """Plain sentences, one per reason the judge's verdicts should not be trusted."""
    problems = [check.reason() for check in data.positions if not check.trusted]
    for r in data.rows:
        if r.invalid_rate is not None and r.invalid_rate > INVALID_LIMIT:
            problems.append(
                f"Against {r.eval_set}, {_pct(r.invalid_rate)} of the judge's verdicts on "
                f"{r.candidate} were invalid (limit {_pct(INVALID_LIMIT)}): the judge often "
                "cannot follow the format."
            )
    calibration = data.calibration
    if calibration and calibration.get("passed") is False:
        detail = f" ({calibration['detail']})" if calibration.get("detail") else ""
        problems.append(
            "The judge failed calibration: on pairs with a known better answer it was right "
            f"{_pct(calibration.get('accuracy'))} of the time, below the required "
            f"{_pct(calibration.get('threshold'))}{detail}."
        )
    return problems


def trust_section(data: ReportData, problems: list[str]) -> list[str]:
    if problems:
        lines = ["**The judge is too weak to trust; read the win rates below as a property of "
                 "the judge, not of the models.**", ""]  # fmt: skip
        return lines + [f"- {p}" for p in problems] + [""]
    if not data.positions and not data.calibration:
        return ["The judge was not checked: no calibration ran and it judged nothing.", ""]
    checks = "; ".join(
        f"{c.judge} picked the first-shown answer in {c.rate.percent()} of {c.decisive} decisive "
        "verdicts" for c in data.positions
    )  # fmt: skip
    parts = (["it passed calibration"] if data.calibration else []) + (
        [f"on the real answers {checks}"] if checks else []
    )
    return [f"The judge can be trusted: {' and '.join(parts)}.", ""]


# --- formatting ----------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _num(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def candidates_section(candidates: Sequence[Mapping[str, str]]) -> list[str]:
    """Who is on the leaderboard: where each model came from and how it was prompted."""
    if not candidates:
        return []
    rows = [[c["name"], c["kind"], f"`{c['source']}`", c["template"]] for c in candidates]
    return ["## Candidates", "", *_table(["model", "kind", "source", "prompted with"], rows), ""]


def leaderboard_section(rows: Sequence[Row]) -> list[str]:
    lines = ["## Leaderboard: win rates against reference answers", ""]
    if not rows:
        return [*lines, "No candidate was judged.", ""]
    header = ["reference", "model", "win rate [95% CI]", "LC win rate [95% CI]", "n",
              "invalid", "picked 1st [95% CI]"]  # fmt: skip
    cells = [
        [r.eval_set, r.candidate, r.win_rate.cell(), r.lc_win_rate.cell(), str(r.n),
         _pct(r.invalid_rate), r.first_position.percent()]
        for r in rows
    ]  # fmt: skip
    lines += _table(header, cells)
    lines += ["", "Win rate: wins plus half the ties, over valid verdicts, both presentation "
              "orders; 0.5 = as good as the reference. Intervals resample items.", ""]  # fmt: skip
    return [*lines, f"![win rates]({FIGURES['win_rates']})", ""]


def paired_section(data: ReportData) -> list[str]:
    lines = ["## Paired comparisons: did it help?", ""]
    groups = [("per-item score difference", data.paired), ("head to head", data.head_to_head)]
    if not any(group for _, group in groups):
        return [*lines, "No two candidates were compared.", ""]
    rows = [
        [eval_set, kind, f"{p.a} vs {p.b}", _paired_value(p), str(p.n),
         f"{p.better}/{p.worse}/{p.same}", _num(p.p_value), _supports(p, data.alpha)]
        for kind, group in groups for eval_set, comparisons in group.items() for p in comparisons
    ]  # fmt: skip
    header = ["reference", "measure", "comparison", "value [95% CI]", "n", "better/worse/same",
              "sign test p", "what it supports"]  # fmt: skip
    lines += _table(header, rows)
    lines += ["", "Per-item score: win 1, tie 1/2, loss 0 against the reference, averaged over "
              "both orders and every judge; the value is a minus b, its interval a paired item "
              "bootstrap, the sign test counts the items where a or b scored higher. Head to "
              "head: a's win rate over b's answer, judged directly. A difference is claimed only "
              "when the interval excludes 0 (head to head: 0.5) and the sign test is below "
              f"{data.alpha}.", "", f"![paired comparisons]({FIGURES['paired']})", ""]  # fmt: skip
    return lines


def _supports(p: Paired, alpha: float) -> str:
    outcome = p.outcome(alpha)
    words = {"better": f"{p.a} better", "worse": f"{p.a} worse", "untested": "not compared"}
    return words.get(outcome, "no detectable difference")


def _paired_value(p: Paired) -> str:
    shift = 0.5 if p.kind == "head_to_head" else 0.0
    if p.delta is None:
        return "n/a"
    ci = f" [{p.ci[0] + shift:+.3f}, {p.ci[1] + shift:+.3f}]" if p.ci else ""
    return f"{p.delta + shift:+.3f}{ci}"


def champion_section(data: ReportData) -> list[str]:
    lines = ["## Champion and challenger", ""]
    if data.decision is not None:
        return [*lines, data.decision.reason, ""]
    note = data.champion_note or "no registry was consulted (run without MLflow)"
    return [*lines, f"No promotion decision: {note}.", ""]


def calibration_section(data: ReportData) -> list[str]:
    lines = ["## The judge: calibration and position bias", ""]
    calibration = data.calibration
    if not calibration:
        lines.append("No calibration was run.")
    else:
        verdict = {True: "passed", False: "FAILED", None: "not decided"}[calibration.get("passed")]
        lines.append(
            f"Calibration {verdict}: right on {_pct(calibration.get('accuracy'))} of "
            f"{calibration.get('n', 'n/a')} pairs with a known better answer "
            f"(required {_pct(calibration.get('threshold'))})."
        )
        if calibration.get("detail"):
            lines.append(f"{calibration['detail']}")
    for check in data.positions:
        state = "within" if check.trusted else "OUTSIDE"
        lines.append(
            f"On the real answers, {check.judge} picked the first-shown answer in "
            f"{check.rate.percent()} of {check.decisive} decisive verdicts: {state} the trusted "
            f"{_pct(check.low)}-{_pct(check.high)}."
        )
    if data.positions:
        lines += ["", f"![position bias]({FIGURES['position']})"]
    return [*lines, ""]


def mcq_subjects(mcq: Mapping[str, Mapping[str, Any]]) -> list[str]:
    return sorted({s for result in mcq.values() for s in result.get("subjects", {})})


def mcq_section(mcq: Mapping[str, Mapping[str, Any]]) -> list[str]:
    scored = {m: r for m, r in mcq.items() if "not_scored" not in r}
    shots = "/".join(sorted({str(r.get("num_fewshot", 0)) for r in scored.values()})) or "0"
    lines = [f"## Medical multiple choice (lm-evaluation-harness, {shots}-shot accuracy)", ""]
    if not mcq:
        return [*lines, "No multiple-choice results were given.", ""]
    models = list(scored)
    if models:
        rows = [[s, *(_acc_cell(scored[m].get("subjects", {}).get(s)) for m in models)]
                for s in mcq_subjects(scored)]  # fmt: skip
        rows.append(
            ["**macro average**", *(_num(scored[m].get("macro", {}).get("acc")) for m in models)]
        )
        lines += _table(["benchmark", *(f"{m} acc ± stderr (n)" for m in models)], rows)
    notes = sorted(
        {f"{name}: {why}" for m in models for name, why in scored[m].get("skipped", {}).items()}
    )
    notes += [f"candidate {m}: {r['not_scored']}" for m, r in mcq.items() if m not in scored]
    if notes:
        lines += ["", "Not scored:"] + [f"- {s}" for s in notes]
    return [*lines, "", f"![MCQ accuracy]({FIGURES['mcq']})" if models else "", ""]


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


def _grouped_bars(ax: Any, groups: list[str], series: dict[str, list[tuple[Any, ...]]]) -> None:
    """Vertical bars: one group per x label, one colour per series, CI error bars where given.
    A point is (value, ci) or (value, ci, note): a missing value is never drawn as a 0 bar
    but marked with its note ("n/a" by default; "" for a row that does not exist)."""
    width = 0.8 / max(len(series), 1)
    for i, (name, points) in enumerate(series.items()):
        xs = [g + (i - (len(series) - 1) / 2) * width for g in range(len(groups))]
        heights = [p[0] or 0.0 for p in points]
        spans = [_error(p[0], p[1]) for p in points]
        errors = [[low for low, _ in spans], [high for _, high in spans]]
        ax.bar(
            xs, heights, width, label=name, color=COLORS[i % len(COLORS)], yerr=errors, capsize=3
        )
        for x, point in zip(xs, points, strict=True):
            note = point[2] if len(point) > 2 else "n/a"
            if point[0] is None and note:
                ax.text(x, 0.02, note, ha="center", va="bottom", fontsize=7, rotation=90)
    ax.set_xticks(range(len(groups)), groups, rotation=20, ha="right")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)


def win_rate_figure(rows: Sequence[Row], path: Path) -> Path:
    references = list(dict.fromkeys(r.eval_set for r in rows))
    candidates = list(dict.fromkeys(r.candidate for r in rows))
    index = {(r.eval_set, r.candidate): r for r in rows}
    fig = Figure(figsize=(10, 4))
    for k, (attr, title) in enumerate((("win_rate", "Win rate"),
                                       ("lc_win_rate", "Length-controlled win rate"))):  # fmt: skip
        ax = fig.add_subplot(1, 2, k + 1)
        series = {}
        for c in candidates:
            rates = [getattr(index[(ref, c)], attr) if (ref, c) in index else None
                     for ref in references]  # fmt: skip
            series[c] = [(None, None, "") if rate is None else
                         (rate.value, rate.ci, "too few items" if rate.note.startswith("too few") else "n/a")
                         for rate in rates]  # fmt: skip
        _grouped_bars(ax, references, series)
        ax.axhline(0.5, color="grey", linestyle="--", linewidth=1)
        ax.set_title(f"{title} (95% CI)")
        ax.set_xlabel("reference answers")
    return save_figure(fig, path)


def paired_figure(comparisons: Sequence[tuple[str, Paired]], path: Path) -> Path:
    """Forest plot: each difference with its interval, 0 marked."""
    fig = Figure(figsize=(7, 1.0 + 0.5 * len(comparisons)))
    ax = fig.add_subplot()
    for y, (_, p) in enumerate(comparisons):
        if p.delta is None:
            continue
        low, high = _error(p.delta, p.ci)
        ax.errorbar(
            [p.delta], [y], xerr=[[low], [high]], fmt="o", color=COLORS[y % len(COLORS)], capsize=4
        )
    ax.set_yticks(range(len(comparisons)), [label for label, _ in comparisons])
    ax.axvline(0.0, color="grey", linestyle="--", linewidth=1)
    ax.set_xlim(-1.05, 1.05)
    ax.set_xlabel("a minus b (per-item score; head to head: win rate - 0.5), 95% CI")
    return save_figure(fig, path)


def position_figure(checks: Sequence[PositionCheck], path: Path) -> Path:
    fig = Figure(figsize=(6, 3))
    ax = fig.add_subplot()
    series = {"first-shown picked": [(c.rate.value, c.rate.ci) for c in checks]}
    _grouped_bars(ax, [c.judge for c in checks], series)
    for y in {checks[0].low, checks[0].high}:
        ax.axhline(y, color="red", linestyle=":", linewidth=1)
    ax.set_title("Judge picked the first answer shown, real verdicts (95% CI; band = trusted)")
    return save_figure(fig, path)


def mcq_figure(mcq: Mapping[str, Mapping[str, Any]], path: Path) -> Path:
    subjects, models = mcq_subjects(mcq), list(mcq)
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


def _write_figures(out: Path, data: ReportData) -> list[Path]:
    figures = []
    if data.rows:
        figures.append(win_rate_figure(data.rows, out / FIGURES["win_rates"]))
    comparisons = [(f"{ref}: {p.a} vs {p.b}" + (" (h2h)" if p.kind == "head_to_head" else ""), p)
                   for group in (data.paired, data.head_to_head)
                   for ref, ps in group.items() for p in ps]  # fmt: skip
    if comparisons:
        figures.append(paired_figure(comparisons, out / FIGURES["paired"]))
    if data.positions:
        figures.append(position_figure(data.positions, out / FIGURES["position"]))
    scored = {m: r for m, r in data.mcq.items() if "not_scored" not in r}
    if scored:
        figures.append(mcq_figure(scored, out / FIGURES["mcq"]))
    return figures


# --- entry point ---------------------------------------------------------------------


def write_report(out_dir: str | Path, data: ReportData) -> dict[str, Any]:
    """Write report.md, leaderboard.json and the figures; returns
    {"report", "figures", "judge_trusted", "problems", "headline"}."""
    out = Path(out_dir)
    problems = trust_problems(data)
    opening = headline(data)
    figures = _write_figures(out, data)
    lines = ["# Evaluation report", "", *opening, ""]
    lines += trust_section(data, problems) + [f"> {note}" for note in data.notes]
    lines += [""] if data.notes else []
    lines += candidates_section(data.candidates) + leaderboard_section(data.rows)
    lines += paired_section(data) + champion_section(data)
    lines += calibration_section(data) + mcq_section(data.mcq)
    report = out / "report.md"
    write_text(report, "\n".join(lines).rstrip() + "\n")
    rows = [r.as_dict() for r in data.rows]
    write_text(out / LEADERBOARD, json.dumps(rows, indent=1, sort_keys=True) + "\n")
    return {"report": str(report), "figures": [str(p) for p in figures],
            "judge_trusted": not problems, "problems": problems, "headline": opening}  # fmt: skip
