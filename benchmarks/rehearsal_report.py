"""reports/rehearsal.md from a finished rehearsal (benchmarks/rehearse.py).

Everything in the report is read from the run: per-stage measurements (wait4 on
each `dvc repro -s` process tree), the simulated endpoint's counters, the spend
ledger of the scratch copy and the stages' metrics files. The price table puts
the measured tokens at other models' prices (llm.client.prices), with and without
the Batch API, for the README.
"""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from medinstruct_core.llm.config import Price
from medinstruct_core.llm.estimate import cost_usd, duration, limited_seconds, usd

KINDS = ("teacher", "responder", "judge")
# Price scenarios for the README table: every role at one model's price, and the paper's mix.
SCENARIOS = ("gpt-4", "gpt-4o", "gpt-4o-mini")
TARGET_S, TARGET_RSS_MB = 600.0, 4096.0


def _machine() -> str:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu or platform.processor()}), Python {platform.python_version()}"


def _commit(root: Path) -> str:
    found = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
    )
    dirty = subprocess.run(
        ["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True
    )
    return found.stdout.strip() + (" + uncommitted changes" if dirty.stdout.strip() else "")


def stage_table(runs: list[Any]) -> list[str]:
    lines = [
        "| stage | exit | wall s | CPU s (stage) | peak RSS MB | endpoint CPU s | requests served |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in runs:
        served = ", ".join(
            f"{v['requests']:,} {k}" for k, v in r.served.items() if v.get("requests")
        )
        lines.append(f"| {r.name} | {r.rc} | {r.wall_s:.1f} | {r.cpu_s:.1f} | {r.peak_rss_mb:,.0f} | "
                     f"{r.endpoint_cpu_s:.1f} | {served or '-'} |")  # fmt: skip
    wall, cpu = sum(r.wall_s for r in runs), sum(r.cpu_s for r in runs)
    peak, endpoint = (
        max((r.peak_rss_mb for r in runs), default=0),
        sum(r.endpoint_cpu_s for r in runs),
    )
    lines.append(
        f"| **all** | | **{wall:.1f}** | **{cpu:.1f}** | **{peak:,.0f}** | {endpoint:.1f} | |"
    )
    return lines


def targets(runs: list[Any]) -> list[str]:
    """The issue's targets, endpoint excluded: the stages' own CPU time, and wall time."""
    cpu, wall = sum(r.cpu_s for r in runs), sum(r.wall_s for r in runs)
    endpoint = sum(r.endpoint_cpu_s for r in runs)
    peak = max((r.peak_rss_mb for r in runs), default=0.0)
    ok = lambda good: "met" if good else "**missed**"  # noqa: E731
    return [
        f"- Pipeline's own work (CPU time of the stage processes, endpoint excluded): "
        f"**{cpu:.0f} s** against a target of {TARGET_S:.0f} s: {ok(cpu <= TARGET_S)}.",
        f"- Wall time of all stages: {wall:.0f} s, of which the simulated endpoint used "
        f"{endpoint:.0f} s of CPU on the same 2 cores (wall minus endpoint CPU: "
        f"{wall - endpoint:.0f} s: {ok(wall - endpoint <= TARGET_S)}).",
        f"- Peak RSS of any stage's process tree: **{peak:,.0f} MB** against {TARGET_RSS_MB:,.0f} MB: "
        f"{ok(peak <= TARGET_RSS_MB)}.",
    ]


def role_table(endpoint: Mapping[str, Any]) -> list[str]:
    lines = ["| role | requests | tokens in | tokens out | in per request | out per request | cut at max_tokens |",
             "|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for kind in KINDS:
        s = endpoint["by_kind"].get(kind, {})
        n = s.get("requests", 0)
        if not n:
            continue
        lines.append(f"| {kind} | {n:,} | {s['prompt_tokens']:,} | {s['completion_tokens']:,} | "
                     f"{s['prompt_tokens'] / n:,.0f} | {s['completion_tokens'] / n:,.0f} | {s['truncated']:,} |")  # fmt: skip
    faults = endpoint.get("faults") or {}
    if faults:
        lines.append("")
        lines.append("Injected faults (retried by the client): "
                     + ", ".join(f"{n} x HTTP {code}" for code, n in sorted(faults.items())))  # fmt: skip
    return lines


def ledger_table(spend: list[dict[str, Any]], total: float, budget: float | None) -> list[str]:
    lines = [
        "| stage | role | model | replies | tokens in | tokens out | USD |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for row in spend:
        replies = row.get("answers", row.get("replies", row.get("rows", 0)))
        model = row["model"] + (" (Batch API)" if row.get("batch") else "")
        lines.append(f"| {row['stage']} | {row['role']} | {model} | {replies:,} | {row['prompt_tokens']:,} | "
                     f"{row['completion_tokens']:,} | {usd(row['usd'])} |")  # fmt: skip
    cap = usd(budget) if budget is not None else "no cap"
    lines.append(f"| **total** | | | | | | **{usd(total)}** (budget {cap}) |")
    return lines


def _role_tokens(endpoint: Mapping[str, Any]) -> dict[str, tuple[int, int]]:
    return {
        k: (v.get("prompt_tokens", 0), v.get("completion_tokens", 0))
        for k, v in endpoint["by_kind"].items()
    }


def price_table(endpoint: Mapping[str, Any], params: Mapping[str, Any]) -> list[str]:
    """The measured tokens at the profile's prices and with every role at one model's price."""
    llm = params["llm"]
    prices = {name: Price(**p) for name, p in llm["client"]["prices"].items()}
    tokens = _role_tokens(endpoint)
    judge = llm["judge"] if isinstance(llm["judge"], dict) else llm["judge"][0]
    paper = {
        "teacher": llm["teacher"]["model"],
        "responder": llm["responder"]["model"],
        "judge": judge["model"],
    }
    rows = [("the profile: " + " / ".join(paper[k] for k in KINDS), paper)]
    rows += [
        (f"every role at {name}", dict.fromkeys(KINDS, name))
        for name in SCENARIOS
        if name in prices
    ]
    lines = [
        "| prices | teacher | responder | judge | total | total with the Batch API |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, models in rows:
        cost = {
            k: cost_usd(*tokens.get(k, (0, 0)), prices[models[k]])
            for k in KINDS
            if models[k] in prices
        }
        batch = {k: cost_usd(*tokens.get(k, (0, 0)), prices[models[k]], batch=True) for k in cost}
        lines.append(f"| {label} | {usd(cost.get('teacher', 0))} | {usd(cost.get('responder', 0))} | "
                     f"{usd(cost.get('judge', 0))} | **{usd(sum(cost.values()))}** | {usd(sum(batch.values()))} |")  # fmt: skip
    return lines


def limits_lines(endpoint: Mapping[str, Any], limits: Mapping[str, float]) -> list[str]:
    """How long the profile's rate limits alone would make the LLM stages take."""
    rpm, tpm = limits.get("requests_per_minute", 0.0), limits.get("tokens_per_minute", 0.0)
    if not (rpm or tpm):
        return []
    parts, total = [], 0.0
    for kind in KINDS:
        s = endpoint["by_kind"].get(kind, {})
        if s.get("requests"):
            seconds = limited_seconds(
                s["requests"], s["prompt_tokens"] + s["completion_tokens"], rpm, tpm
            )
            total += seconds
            parts.append(f"{kind} {duration(seconds)}")
    return [f"At the profile's rate limits ({rpm:,.0f} requests and {tpm:,.0f} tokens a minute, lifted "
            f"for the rehearsal) the LLM stages alone would take at least **{duration(total)}**: "
            + ", ".join(parts) + "."]  # fmt: skip


def data_lines(metrics: Mapping[str, Mapping[str, Any]], runs: list[Any]) -> list[str]:
    gi, gr = metrics.get("generate_instructions", {}), metrics.get("generate_responses", {})
    cu, va = metrics.get("curate", {}), metrics.get("validate", {})
    lines = []
    if gi:
        lines.append(f"- generate_instructions: **{gi.get('tasks_kept', 0):,.0f} tasks kept** from "
                     f"{gi.get('requests', 0):,.0f} requests in {gi.get('rounds', 0):,.0f} round(s) "
                     f"({gi.get('tasks_parsed', 0):,.0f} parsed; keep yield {gi.get('keep_yield', 0):.2f}; "
                     f"stop: {gi.get('stop_reason', '?')}); duplicates dropped: "
                     f"{gi.get('rejects.duplicate', 0):,.0f}")  # fmt: skip
    if gr:
        lines.append(f"- generate_responses: {gr.get('examples', 0):,.0f} examples, "
                     f"{gr.get('truncated', 0):,.0f} cut at max_tokens, {gr.get('request_failed', 0):,.0f} failed")  # fmt: skip
    if cu:
        kept = next((cu[k] for k in ("kept", "rows_kept", "n_kept") if k in cu), None)
        lines.append(f"- curate: **{kept:,.0f} rows kept**" if isinstance(kept, int | float) else "- curate: ? rows kept"
                     + "".join(f"; {k} {v}" for k, v in cu.items() if k.startswith("rejected") and isinstance(v, int | float) and v))  # fmt: skip
    if va or any(r.name == "validate" for r in runs):
        gate = va.get("gate", "failed" if any(r.name == "validate" and r.rc for r in runs) else "?")
        lines.append(f"- validate (the gate): **{gate}**")
    return lines


def gate_lines(runs: list[Any], metrics: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The gate's own summary (from its `validate:` line to its Data Docs line) and its numbers."""
    from benchmarks.rehearse import tail

    run = next((r for r in runs if r.name == "validate"), None)
    if run is None:
        return ["(the gate did not run)"]
    body = tail(Path(run.log), 200).splitlines()
    start = next(
        (i for i, ln in enumerate(body) if ln.startswith("validate:")), max(0, len(body) - 30)
    )
    end = next((i for i, ln in enumerate(body) if ln.startswith("data docs")), len(body))
    numbers = {k: v for k, v in metrics.get("validate", {}).items()
               if isinstance(v, int | float) and not isinstance(v, bool)}  # fmt: skip
    shown = [
        f"{k} = {v:.3f}" if isinstance(v, float) else f"{k} = {v}"
        for k, v in sorted(numbers.items())
    ]
    return [
        "```",
        *body[start:end][:40],
        "```",
        "",
        "Gate metrics: " + (", ".join(shown) or "none written"),
    ]


def evaluate_lines(metrics: Mapping[str, Mapping[str, Any]]) -> list[str]:
    ev, tr = metrics.get("evaluate", {}), metrics.get("train", {})
    lines = []
    if tr:
        given = tr.get("n_tokenized", tr.get("n_train", 0))
        lines.append(
            f"- train: {tr.get('steps', '?')} steps on {tr.get('n_train', 0):,.0f} examples (CPU-sized; "
            f"{given:,.0f} of them tokenized: the rows {tr.get('steps', '?')} steps can draw)"
        )
    if ev:
        mcq = {k: v for k, v in ev.items() if k.startswith("mcq_") and k.endswith("_n")}
        lines.append(f"- evaluate: {ev.get('num_items', '?')} items judged; judge trusted: "
                     f"{ev.get('judge_trusted', '?')}; MCQ questions per model: {int(sum(v or 0 for v in mcq.values()) / max(1, len({k.split('_')[1] for k in mcq})))}")  # fmt: skip
    return lines


def render_report(rehearsal: Any) -> str:
    """The whole Markdown report."""
    from benchmarks.rehearse import ROOT

    opts = rehearsal.options
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"# Rehearsal: the paper profile at N = {rehearsal.n:,} tasks, against a simulated endpoint",
        "",
        f"Made by `make rehearse` (`python -m benchmarks.rehearse --n {rehearsal.n}`) on {when}, "
        f"commit {_commit(ROOT)}; {_machine()}. Scratch copy: `{rehearsal.dest}`. Endpoint: "
        f"tests/fakes/sim_openai.py, latency {opts.get('latency', 0)} s, fault rate {opts.get('fault_rate', 0)}"
        + (f", Batch API for {', '.join(opts['batch'])}" if opts.get("batch") else "")
        + (f"; overrides: {', '.join(opts['sets'])}" if opts.get("sets") else "")
        + ".",
        "",
        "Params: params.yaml + profiles/paper.yaml + benchmarks/rehearsal.yaml (training on a tiny "
        "random model for a few steps; generation, curation, the gate and evaluation at full size).",
        "",
        "## Time and memory per stage",
        "",
        *stage_table(rehearsal.runs),
        "",
        *targets(rehearsal.runs),
        "",
        "## Requests and tokens per role (as the endpoint served them)",
        "",
        *role_table(rehearsal.endpoint),
        "",
        f"Endpoint process: peak RSS {rehearsal.endpoint_peak_rss_mb:,.0f} MB.",
        "",
        *limits_lines(rehearsal.endpoint, opts.get("paper_limits") or {}),
        "",
        "## What it would have cost (the spend ledger, at the profile's prices)",
        "",
        *ledger_table(rehearsal.spend, rehearsal.spend_total, rehearsal.budget),
        "",
        "The same tokens at other prices (USD per 1M tokens from llm.client.prices; the Batch API bills half):",
        "",
        *price_table(rehearsal.endpoint, rehearsal.params),
        "",
        "## What the run produced",
        "",
        *data_lines(rehearsal.metrics, rehearsal.runs),
        *evaluate_lines(rehearsal.metrics),
        "",
        "### The gate's verdict (end of the validate log)",
        "",
        *gate_lines(rehearsal.runs, rehearsal.metrics),
        "",
    ]
    return "\n".join(lines)
