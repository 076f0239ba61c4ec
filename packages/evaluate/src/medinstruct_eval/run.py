"""The `evaluate` stage's body: any model against any reference, and what the numbers support.

1. Every candidate (`evaluate.candidates`: the pipeline's base and student by default,
   or any model directory, GGUF, MLflow model, hub id or OpenAI-compatible endpoint;
   plus the registry's champion when there is one) answers every eval set.
2. Judge calibration: every judge decides pairs with a known better answer, in both
   orders; a judge that cannot is reported (or dropped, or stops the stage).
3. The judge panel compares each answer with each set's reference, both orders;
   optionally (`head_to_head`) student and base answers directly.
4. The judge's first-position rate on those real verdicts gates its trust as
   calibration does.
5. The leaderboard (every rate with its interval, LC only from `min_items_lc` items),
   paired comparisons (student vs every other candidate), the champion decision.
6. Medical multiple choice through lm-evaluation-harness for every candidate it can score.
7. One report (Markdown, PNGs, leaderboard.json) and flat metrics for DVC and MLflow.

Everything paid or slow is cached: judge calls and endpoint answers by the LLM client,
so a re-run with nothing changed makes no call.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medinstruct_core.io import write_jsonl
from medinstruct_core.llm.config import EmbeddedConfig, Sampling
from medinstruct_core.llm.types import ChatClient
from medinstruct_core.records import EvalItem
from medinstruct_eval.answer import ModelAnswers, answer_sets
from medinstruct_eval.calibration import (
    UntrustedJudge,
    calibration_metrics,
    calibration_summary,
    judge_calibration,
    load_calibration,
    report_summary,
    trusted_panel,
)
from medinstruct_eval.candidates import Candidate, resolve_candidates
from medinstruct_eval.champion import ChampionInfo, Decision, decide
from medinstruct_eval.config import CHAMPION, MAIN_SET, EvaluateConfig
from medinstruct_eval.eval_report import ReportData, write_report
from medinstruct_eval.evalsets import load_eval_set
from medinstruct_eval.judge import JudgeClient, PanelVerdict, judge_panel
from medinstruct_eval.leaderboard import (
    PositionCheck,
    Row,
    leaderboard,
    leaderboard_metrics,
    position_checks,
    position_metrics,
)
from medinstruct_eval.mcq import McqConfig, run_mcq
from medinstruct_eval.metrics import invalid_warnings, metric_name, panel_summary
from medinstruct_eval.paired import Paired, compare_all, default_pairs, head_to_head
from medinstruct_eval.remote import answer_remote, candidate_sampling
from medinstruct_eval.report import answer_records, answer_texts, eval_table, select_items

TUNED, BASELINE = "student", "base"
OpenClient = Callable[[Candidate, Sampling], AbstractContextManager[ChatClient]]
Answers = dict[str, dict[str, ModelAnswers]]  # eval set -> candidate -> answers


@dataclass
class EvalSet:
    name: str
    items: list[EvalItem]


@dataclass
class Evaluation:
    """What the stage logs: flat metrics, tables, warnings, timings and the champion decision."""

    metrics: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    leaderboard: list[dict[str, Any]] = field(default_factory=list)
    decision: Decision | None = None


def answers_file(out_dir: Path, set_name: str) -> Path:
    """answers.jsonl for our own set (what the clinician review reads), answers_<set>.jsonl else."""
    return out_dir / ("answers.jsonl" if set_name == MAIN_SET else f"answers_{set_name}.jsonl")


def load_sets(main_path: Path, cfg: EvaluateConfig) -> list[EvalSet]:
    """Our held-out set first, then every `evaluate.eval_sets` entry with its reference."""
    sets = [EvalSet(MAIN_SET, select_items(load_eval_set(main_path), cfg.num_items))]
    for extra in cfg.eval_sets:
        limit = cfg.num_items if extra.num_items is None else extra.num_items
        sets.append(
            EvalSet(extra.name, select_items(load_eval_set(extra.path, extra.reference), limit))
        )
    return sets


def stage_candidates(
    cfg: EvaluateConfig,
    pipeline: Mapping[str, Path],
    champion: ChampionInfo | None,
    *,
    root: Path,
    lineage: Callable[[Path], str] = str,
) -> list[Candidate]:
    """The configured candidates, plus the registry's champion when it must be scored."""
    from medinstruct_train.registry import MODEL_NAME

    configs = list(cfg.candidates)
    extra = champion.candidate(MODEL_NAME) if champion is not None else None
    configs += [extra] if extra is not None else []
    return resolve_candidates(configs, pipeline, cache_dir=root / cfg.candidate_cache,
                              lineage=lineage)  # fmt: skip


# -- 1. answers ---------------------------------------------------------------------------
def client_metrics(clients: Mapping[str, Any]) -> dict[str, float]:
    """`llm.<name>.*` spend and cache counters of each client (MLflow only: they vary)."""
    return {k: v for name, c in clients.items() if hasattr(c, "stats")
            for k, v in c.stats.as_metrics(f"llm.{name}.").items()}  # fmt: skip


def answer_candidate(
    candidate: Candidate, sets: Sequence[EvalSet], cfg: EvaluateConfig, open_client: OpenClient,
    seed: int, spend: dict[str, float],
) -> tuple[dict[str, ModelAnswers], Counter[str]]:  # fmt: skip
    """One candidate's answers to every set: in-process for a local model, else through
    the one LLM client (a GGUF's llama.cpp server runs only during this call, and the
    client's counters go into `spend`)."""
    by_set = {s.name: s.items for s in sets}
    if candidate.kind == "local":
        assert candidate.path is not None
        answers = answer_sets(candidate.path, by_set, cfg.max_new_tokens, cfg.batch_size,
                              device=cfg.device, threads=cfg.torch_threads,
                              prompt_format=candidate.template)  # fmt: skip
        return answers, Counter()
    sampling = candidate_sampling(cfg.max_new_tokens, seed)
    with open_client(candidate, sampling) as client:
        answers, failures = answer_remote(client, candidate, by_set, sampling)
        spend.update(client_metrics({f"candidate.{candidate.name}": client}))
    return answers, failures


def answer_all(
    candidates: Sequence[Candidate], sets: Sequence[EvalSet], cfg: EvaluateConfig,
    open_client: OpenClient, seed: int,
) -> tuple[Answers, dict[str, float], list[str]]:  # fmt: skip
    """Every candidate's answers (one model loaded at a time), seconds each, failure notes."""
    answers: Answers = {s.name: {} for s in sets}
    seconds: dict[str, float] = {}  # and the endpoint clients' counters
    notes = []
    for candidate in candidates:
        started = time.monotonic()
        own, failures = answer_candidate(candidate, sets, cfg, open_client, seed, seconds)
        seconds[f"answer_{candidate.name}_s"] = round(time.monotonic() - started, 2)
        for set_name, value in own.items():
            answers[set_name][candidate.name] = value
        if failures:
            total = sum(len(s.items) for s in sets)
            reasons = ", ".join(f"{k} {v}" for k, v in sorted(failures.items()))
            notes.append(f"{candidate.name}: {sum(failures.values())} of {total} answer requests "
                         f"failed ({reasons}); each counts as an empty answer.")  # fmt: skip
    return answers, seconds, notes


def candidate_rows(
    candidates: Sequence[Candidate], answers: Mapping[str, ModelAnswers]
) -> list[dict[str, str]]:
    """The report's list of candidates, with the template each one actually answered through."""
    return [{"name": c.name, "kind": c.kind, "source": c.source,
             "template": answers[c.name].prompt_format if c.name in answers else c.template}
            for c in candidates]  # fmt: skip


# -- 2-4. the judge -----------------------------------------------------------------------
def calibrate(
    judges: Mapping[str, JudgeClient], cfg: EvaluateConfig, sampling: Mapping[str, Sampling]
) -> tuple[dict[str, JudgeClient], dict[str, Any], dict[str, Any], list[str]]:
    """(panel to judge with, flat metrics, the report's calibration block, warnings)."""
    if not cfg.calibration.enabled:
        return dict(judges), {}, {}, []
    pairs = load_calibration(cfg.calibration.path)[: cfg.calibration.num_items]
    verdicts = judge_calibration(judges, pairs, sampling)
    results = calibration_metrics(verdicts)
    thresholds = cfg.calibration.thresholds
    panel, reasons = trusted_panel(judges, results, thresholds, cfg.calibration.on_untrusted)
    return (
        panel,
        calibration_summary(results, thresholds),
        report_summary(results, thresholds),
        reasons,
    )


def judge_sets(
    panel: Mapping[str, JudgeClient],
    sets: Sequence[EvalSet],
    answers: Answers,
    sampling: Mapping[str, Sampling],
) -> list[PanelVerdict]:
    verdicts: list[PanelVerdict] = []
    for eval_set in sets:
        texts = answer_texts(answers[eval_set.name])
        verdicts += judge_panel(panel, eval_set.items, texts, sampling, eval_set=eval_set.name)
    return verdicts


def judge_head_to_head(
    panel: Mapping[str, JudgeClient], sets: Sequence[EvalSet], answers: Answers,
    sampling: Mapping[str, Sampling], a: str = TUNED, b: str = BASELINE,
) -> list[PanelVerdict]:  # fmt: skip
    """a's answers judged against b's (b takes the reference's place), both orders."""
    verdicts: list[PanelVerdict] = []
    for eval_set in sets:
        own = answers[eval_set.name]
        if a not in own or b not in own:
            continue
        items = [item.model_copy(update={"reference": text})
                 for item, text in zip(eval_set.items, own[b].texts, strict=True)]  # fmt: skip
        verdicts += judge_panel(panel, items, {a: own[a].texts}, sampling, eval_set=eval_set.name)
    return verdicts


def position_gate(
    verdicts: list[PanelVerdict], checks: Sequence[PositionCheck], policy: str
) -> tuple[list[PanelVerdict], list[str]]:
    """Apply `calibration.on_untrusted` to judges whose real first-position rate is out of band:
    warn keeps them, drop leaves their verdicts out of every number (unless that would
    leave none), fail stops the stage."""
    reasons = [check.reason() for check in checks if not check.trusted]
    if reasons and policy == "fail":
        raise UntrustedJudge(" ".join(reasons))
    dropped = {check.judge for check in checks if not check.trusted}
    kept = [v for v in verdicts if (v.judge or "judge") not in dropped]
    if policy != "drop" or not dropped:
        return verdicts, reasons
    if not kept:
        return verdicts, [*reasons, "Every judge failed the position check; none was dropped."]
    return kept, [*reasons, f"Left out of every number: {', '.join(sorted(dropped))}."]


# -- 5. comparisons -----------------------------------------------------------------------
def _by_set(verdicts: Sequence[PanelVerdict]) -> dict[str, list[PanelVerdict]]:
    groups: dict[str, list[PanelVerdict]] = {}
    for verdict in verdicts:
        groups.setdefault(verdict.eval_set, []).append(verdict)
    return groups


def comparisons(
    verdicts: Sequence[PanelVerdict], candidates: Sequence[str], *, samples: int, seed: int
) -> dict[str, list[Paired]]:
    """Per reference set: the student against every other candidate, item by item."""
    pairs = default_pairs(candidates, TUNED)
    return {name: compare_all(own, pairs, samples=samples, seed=seed)
            for name, own in _by_set(verdicts).items() if pairs}  # fmt: skip


def head_to_heads(
    verdicts: Sequence[PanelVerdict], *, samples: int, seed: int
) -> dict[str, list[Paired]]:
    return {name: [head_to_head(own, TUNED, BASELINE, samples=samples, seed=seed)]
            for name, own in _by_set(verdicts).items()}  # fmt: skip


def paired_metrics(groups: Mapping[str, Sequence[Paired]], prefix: str) -> dict[str, Any]:
    """`<prefix><a>_vs_<b>.*` on our own set, `<prefix><set>.<a>_vs_<b>.*` on the others."""
    flat: dict[str, Any] = {}
    for eval_set, group in groups.items():
        scope = prefix if eval_set == MAIN_SET else f"{prefix}{metric_name(eval_set)}."
        for p in group:
            flat.update(p.as_metrics(scope))
    return flat


# -- 6. multiple choice -------------------------------------------------------------------
def candidate_mcq(
    candidate: Candidate, mcq: McqConfig, data_dir: Path, embedded: EmbeddedConfig,
    env: Mapping[str, str],
) -> dict[str, Any]:  # fmt: skip
    """lm-eval on one candidate, or {"not_scored": why} when it cannot be scored."""
    if candidate.kind == "local":
        return run_mcq(candidate.path, mcq.benchmarks, mcq.limit, data_dir=data_dir, config=mcq)
    import httpx

    from medinstruct_eval import mcq_remote

    lm: Any
    if candidate.kind == "gguf":
        assert candidate.path is not None
        threads = embedded.n_threads or (os.cpu_count() or 1)
        lm = mcq_remote.LlamaCppLM(candidate.path, mcq.n_ctx, threads)
    else:
        key = env.get(candidate.api_key_env, "")
        url, model = candidate.endpoint or "", candidate.model_name or ""
        why = mcq_remote.probe_logprobs(url, model, key)
        if why:
            return {"not_scored": why}
        lm = mcq_remote.CompletionsLM(url, model, key)
    try:
        return run_mcq(lm, mcq.benchmarks, mcq.limit, data_dir=data_dir, config=mcq)
    except httpx.HTTPError as exc:
        return {"not_scored": f"a /completions request failed ({type(exc).__name__}: {exc})"}


def run_benchmarks(
    candidates: Sequence[Candidate], mcq: McqConfig | None, data_dir: Path | None,
    embedded: EmbeddedConfig, env: Mapping[str, str] | None = None,
) -> dict[str, dict[str, Any]]:  # fmt: skip
    """lm-eval on each candidate; {} when MCQ is off (no config or no data)."""
    if mcq is None or data_dir is None or not mcq.benchmarks:
        return {}
    env = os.environ if env is None else env
    return {c.name: candidate_mcq(c, mcq, data_dir, embedded, env) for c in candidates}


def flat_mcq(mcq_metrics: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """`mcq_<model>_<subject>_acc` ..., `mcq_<model>_macro_acc`, and skipped benchmarks as text."""
    flat: dict[str, Any] = {}
    for model, run in mcq_metrics.items():
        for subject, row in run.get("subjects", {}).items():
            for key in ("acc", "acc_stderr", "acc_norm", "n"):
                flat[f"mcq_{model}_{subject}_{key}"] = row.get(key)
        for key, value in run.get("macro", {}).items():
            flat[f"mcq_{model}_macro_{key}"] = value
    return flat


# -- the whole stage body -----------------------------------------------------------------
@dataclass(frozen=True)
class Judging:
    """The judge panel as the stage opened it."""

    judges: Mapping[str, JudgeClient]
    sampling: Mapping[str, Sampling]


@dataclass
class Judged:
    """What the judge produced: verdicts (position gate applied) and its trust checks."""

    panel: dict[str, JudgeClient]
    verdicts: list[PanelVerdict]
    checks: list[PositionCheck]
    calibration: dict[str, Any]  # flat metrics
    calibration_block: dict[str, Any]  # the report's summary
    warnings: list[str]


def judge_all(
    judging: Judging, sets: Sequence[EvalSet], answers: Answers, cfg: EvaluateConfig,
    out_dir: Path, seed: int,
) -> Judged:  # fmt: skip
    """Calibrate, judge every answer (verdicts.jsonl), then check position bias on them."""
    panel, calibration, block, warnings = calibrate(judging.judges, cfg, judging.sampling)
    verdicts = judge_sets(panel, sets, answers, judging.sampling)
    write_jsonl(out_dir / "verdicts.jsonl", verdicts)
    band = cfg.calibration.thresholds
    checks = position_checks(verdicts, low=band.position_low, high=band.position_high,
                             samples=cfg.bootstrap_samples, seed=seed)  # fmt: skip
    verdicts, reasons = position_gate(verdicts, checks, cfg.calibration.on_untrusted)
    return Judged(panel, verdicts, checks, calibration, block, warnings + reasons)


def summarize_verdicts(
    judged: Judged, candidates: Sequence[str], cfg: EvaluateConfig, seed: int,
    h2h: Mapping[str, list[Paired]],
) -> tuple[list[Row], dict[str, list[Paired]], dict[str, Any]]:  # fmt: skip
    """The leaderboard rows, the paired comparisons and every flat metric they give."""
    samples = cfg.bootstrap_samples
    rows = leaderboard(judged.verdicts, samples=samples, seed=seed,
                       min_items_lc=cfg.min_items_lc, lc_penalty=cfg.lc_penalty)  # fmt: skip
    paired = comparisons(judged.verdicts, candidates, samples=samples, seed=seed)
    flat = panel_summary(judged.verdicts, samples=samples, seed=seed,
                         max_invalid_rate=cfg.max_invalid_rate, lc_penalty=cfg.lc_penalty,
                         min_items_lc=cfg.min_items_lc)  # fmt: skip
    metrics = {**judged.calibration, **flat, **leaderboard_metrics(rows),
               **position_metrics(judged.checks), **paired_metrics(paired, "paired."),
               **paired_metrics(h2h, "h2h.")}  # fmt: skip
    return rows, paired, metrics


def evaluate_models(
    *,
    candidates: Sequence[Candidate],
    sets: Sequence[EvalSet],
    judging: Judging,
    cfg: EvaluateConfig,
    open_client: OpenClient,
    out_dir: Path,
    seed: int,
    mcq: McqConfig | None = None,
    benchmarks_dir: Path | None = None,
    embedded: EmbeddedConfig | None = None,
    champion: ChampionInfo | None = None,
) -> Evaluation:
    """Answer, judge, compare, run MCQ, decide on the champion and write the report."""
    result = Evaluation()
    answers, result.timings, notes = answer_all(candidates, sets, cfg, open_client, seed)
    sources = {c.name: c.source for c in candidates}
    for eval_set in sets:
        write_jsonl(answers_file(out_dir, eval_set.name),
                    answer_records(eval_set.items, answers[eval_set.name], sources))  # fmt: skip
    judged = judge_all(judging, sets, answers, cfg, out_dir, seed)
    h2h: dict[str, list[Paired]] = {}
    if cfg.head_to_head:
        direct = judge_head_to_head(judged.panel, sets, answers, judging.sampling)
        write_jsonl(out_dir / "head_to_head.jsonl", direct)
        h2h = head_to_heads(direct, samples=cfg.bootstrap_samples, seed=seed)
    rows, paired, metrics = summarize_verdicts(judged, [c.name for c in candidates], cfg, seed, h2h)
    invalid = invalid_warnings(metrics, cfg.max_invalid_rate)
    mcq_metrics = run_benchmarks(candidates, mcq, benchmarks_dir, embedded or EmbeddedConfig())
    result.metrics = {
        "num_items": sum(len(s.items) for s in sets),
        **metrics,
        **flat_mcq(mcq_metrics),
    }
    result.timings |= {f"mcq_{m}_questions_per_s": r.get("timing", {}).get("questions_per_second") or 0.0
                       for m, r in mcq_metrics.items()}  # fmt: skip
    main = {p.b: p for p in paired.get(MAIN_SET, [])}
    result.decision = decide(champion, main.get(CHAMPION), cfg.significance) if champion else None
    report = write_report(out_dir, ReportData(
        rows=rows, paired=paired, head_to_head=h2h, alpha=cfg.significance, positions=judged.checks,
        calibration=judged.calibration_block, mcq=mcq_metrics, decision=result.decision,
        champion_note=champion.note if champion else "", main_set=MAIN_SET, notes=notes + invalid,
        candidates=candidate_rows(candidates, answers[sets[0].name]),
    ))  # fmt: skip
    result.tables = {s.name: eval_table(s.items, answers[s.name], [v for v in judged.verdicts if v.eval_set == s.name])
                     for s in sets}  # fmt: skip
    result.leaderboard = [r.as_dict() for r in rows]
    result.metrics |= {
        "judge_trusted": int(report["judge_trusted"]),
        "headline": " ".join(report["headline"]),
    }
    if result.decision is not None:
        result.metrics["champion_decision"] = result.decision.reason
    result.warnings = judged.warnings + invalid
    result.warnings += [p for p in report["problems"] if p not in result.warnings]
    return result
