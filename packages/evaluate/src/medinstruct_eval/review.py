"""Blinded clinician review of free-text answers, run the way AlpaCare's human evaluation was.

In the paper, medical experts read the answers of AlpaCare and of the strongest
baseline to the same instructions, without knowing which model wrote which, and
judged each answer on two aspects: **correctness** (is the medical content
accurate?) and **helpfulness** (does it actually help the person asking?).

Rating scheme (one binary rating per answer and aspect, so the result is a rate
with a plain confidence interval and no scale calibration between raters):

- `<L>_correct` (L = A, B, ...): 1 if the answer is medically correct: no
  factual error, and nothing that would mislead or endanger a patient or
  clinician acting on it; 0 otherwise.
- `<L>_helpful`: 1 if the answer addresses what was asked, at a suitable level
  of detail, in a way the asker could act on; 0 otherwise (off-topic, evasive,
  too vague, unsafe refusal of an answerable question).
- Accepted spellings: 1/0, yes/no, y/n (any case). Every rating cell must be
  filled; `comment` is optional free text.

Blinding: `export_review` shuffles the item order and, per item, which model's
answer appears as A, B, ... from `seed`. The CSV holds no model names; the
mapping lives in a separate JSON key file that the raters must not see. The key
also stores a hash of every answer text, so an answer edited in the sheet is
caught on import instead of being credited to the model.

`import_review` validates the filled CSV (every problem is reported, each naming
its row and column) and returns per-model rates with 95% Wilson intervals: the
Wilson interval stays inside [0, 1] and behaves at the small n (tens of items)
a clinician review has, where the normal approximation does not.

Can the LLM judge stand in for the clinicians? `judge_agreement` compares, item by
item and for every pair of reviewed models, the raters' preference (the answer with
more of correct + helpful; equal = tie) with each judge's (the answer with the
higher judge score against the reference on that item; the reference itself, when
it was reviewed, scores 1/2 by definition). Agreement share and Cohen's kappa follow,
each with a 95% interval (see `agreement`), and a plain verdict: the judge can stand
in when kappa's interval lies above `review.min_kappa` (0.4: "moderate" agreement),
cannot when it lies below, and the data cannot tell when the interval straddles it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import random
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from medinstruct_core.io import DataError, atomic_open, write_json
from medinstruct_core.params import Config
from medinstruct_core.records import EvalItem, Record, Verdict
from medinstruct_eval.metrics import cohen_kappa, metric_name, wilson_interval
from medinstruct_eval.paired import item_means

ASPECTS = ("correct", "helpful")
BASE_COLUMNS = ("item", "instruction", "input")
TRUE_VALUES = frozenset({"1", "yes", "y"})
FALSE_VALUES = frozenset({"0", "no", "n"})
CSV_ENCODING = "utf-8-sig"  # the BOM makes spreadsheet programs read UTF-8 correctly


class ReviewError(DataError):
    """The review files are inconsistent; `problems` lists each one (file, row, column)."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        shown = self.problems[:25]
        more = len(self.problems) - len(shown)
        suffix = f"\n... and {more} more" if more > 0 else ""
        super().__init__("\n".join(shown) + suffix)


class ReviewConfig(Config):
    """`review:` settings."""

    seed: int = 0
    num_items: int | None = Field(None, ge=1)  # items to export; None = all
    reference_name: str | None = None  # also show the eval set's reference answer under this name
    min_kappa: float = Field(0.4, ge=-1.0, le=1.0)  # judge-rater kappa a stand-in must exceed


class ReviewAnswer(Record):
    """One model's answer to one instruction, as it goes to the raters."""

    item_id: str = Field(min_length=1)
    model: str = Field(min_length=1)
    instruction: str
    input: str = ""
    answer: str


class KeyItem(Record):
    labels: dict[str, str]  # "A" -> model name
    answer_sha256: dict[str, str]  # "A" -> hash of the exported text


class ReviewKey(Record):
    """The unblinding key written next to (never inside) the CSV."""

    seed: int
    models: list[str]
    items: dict[str, KeyItem]


def labels_for(count: int) -> list[str]:
    return [chr(ord("A") + i) for i in range(count)]


def columns_for(labels: Sequence[str]) -> list[str]:
    ratings = [f"{label}_{aspect}" for label in labels for aspect in ASPECTS]
    return [*BASE_COLUMNS, *(f"answer_{label}" for label in labels), *ratings, "comment"]


def text_hash(text: str) -> str:
    """Hash of an answer, insensitive to the line-ending and edge-whitespace changes spreadsheets make."""
    normal = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    return hashlib.sha256(normal.encode("utf-8")).hexdigest()


def review_answers(
    items: Sequence[EvalItem],
    answers: Iterable[Any],
    reference_name: str | None = None,
) -> list[ReviewAnswer]:
    """Join eval items with candidate answers (objects with item_id, candidate, answer).

    `reference_name` adds each item's reference answer as one more blinded "model".
    """
    by_id = {item.id: item for item in items}
    rows = []
    for answer in answers:
        item = by_id.get(answer.item_id)
        if item is None:
            raise ReviewError([f"answer for unknown item {answer.item_id!r}"])
        rows.append(_row(item, answer.candidate, answer.answer))
    if reference_name:
        rows += [_row(item, reference_name, item.reference) for item in items]
    return rows


def _row(item: EvalItem, model: str, answer: str) -> ReviewAnswer:
    return ReviewAnswer(
        item_id=item.id, model=model, instruction=item.instruction, input=item.input, answer=answer
    )


def group_answers(
    answers: Sequence[ReviewAnswer],
) -> tuple[list[str], dict[str, dict[str, ReviewAnswer]]]:
    """(sorted model names, item -> model -> answer); every item needs one answer per model."""
    grouped: dict[str, dict[str, ReviewAnswer]] = defaultdict(dict)
    problems = []
    for answer in answers:
        if answer.model in grouped[answer.item_id]:
            problems.append(f"item {answer.item_id!r}: two answers from model {answer.model!r}")
        grouped[answer.item_id][answer.model] = answer
    models = sorted({a.model for a in answers})
    if len(models) < 2:
        problems.append(f"a blinded review needs answers from at least 2 models, got {models}")
    for item_id, per_model in grouped.items():
        missing = sorted(set(models) - set(per_model))
        if missing:
            problems.append(f"item {item_id!r}: no answer from {', '.join(missing)}")
    if problems:
        raise ReviewError(problems)
    return models, dict(grouped)


def _blind(
    models: list[str],
    grouped: dict[str, dict[str, ReviewAnswer]],
    seed: int,
    num_items: int | None = None,
) -> list[tuple[str, list[str]]]:
    """Shuffled (item, models in label order) pairs, a pure function of the inputs and seed.

    With `num_items`, the first num_items of the shuffled order: a seeded sample,
    as the paper gave its clinicians a sample of the test set.
    """
    rng = random.Random(seed)
    order = sorted(grouped)
    rng.shuffle(order)
    order = order[:num_items] if num_items else order
    return [(item_id, rng.sample(models, len(models))) for item_id in order]


def _csv_row(
    per_model: dict[str, ReviewAnswer], shown: list[str], labels: list[str]
) -> dict[str, str]:
    first = per_model[shown[0]]
    row = {"item": first.item_id, "instruction": first.instruction, "input": first.input}
    for label, model in zip(labels, shown, strict=True):
        row[f"answer_{label}"] = per_model[model].answer
    return row


def export_review(
    answers: Sequence[ReviewAnswer],
    out_csv: str | Path,
    key_path: str | Path,
    seed: int,
    num_items: int | None = None,
) -> dict[str, Any]:
    """Write the blinded CSV (rating columns empty) and the unblinding key; returns counts."""
    models, grouped = group_answers(answers)
    labels = labels_for(len(models))
    key_items: dict[str, KeyItem] = {}
    buffer = io.StringIO()
    writer = csv.DictWriter(
        buffer, fieldnames=columns_for(labels), restval="", lineterminator="\r\n"
    )
    writer.writeheader()
    for item_id, shown in _blind(models, grouped, seed, num_items):
        per_model = grouped[item_id]
        writer.writerow(_csv_row(per_model, shown, labels))
        key_items[item_id] = KeyItem(
            labels=dict(zip(labels, shown, strict=True)),
            answer_sha256={
                lab: text_hash(per_model[m].answer) for lab, m in zip(labels, shown, strict=True)
            },
        )
    with atomic_open(out_csv, "w", encoding=CSV_ENCODING) as handle:
        handle.write(buffer.getvalue())
    write_json(
        key_path, ReviewKey(seed=seed, models=models, items=key_items).model_dump(mode="json")
    )
    return {"items": len(key_items), "models": models, "labels": labels}


# --- import -------------------------------------------------------------------------


def read_key(key_path: str | Path) -> ReviewKey:
    path = Path(key_path)
    if not path.is_file():
        raise ReviewError([f"{path}: review key not found"])
    try:
        return ReviewKey.model_validate_json(path.read_text(encoding="utf-8"))
    except ValidationError as exc:
        raise ReviewError([f"{path}: not a review key: {exc.errors()[0]['msg']}"]) from exc


def read_filled(filled_csv: str | Path) -> tuple[list[str], list[dict[str, str]]]:
    path = Path(filled_csv)
    if not path.is_file():
        raise ReviewError([f"{path}: filled review CSV not found"])
    with path.open(encoding=CSV_ENCODING, newline="") as handle:
        reader = csv.DictReader(handle)
        header = [h.strip() for h in reader.fieldnames or []]
        reader.fieldnames = header
        rows = [{k: (v or "") for k, v in row.items() if k is not None} for row in reader]
    return header, rows


def parse_rating(value: str) -> bool | None:
    """True/False for an accepted spelling, None for anything else (including blank)."""
    text = value.strip().lower()
    if text in TRUE_VALUES:
        return True
    if text in FALSE_VALUES:
        return False
    return None


def _check_row(
    where: str, row: dict[str, str], entry: KeyItem, labels: list[str]
) -> tuple[list[str], dict[str, dict[str, bool]]]:
    """Problems in one data row, and its ratings keyed by label then aspect."""
    problems: list[str] = []
    ratings: dict[str, dict[str, bool]] = {}
    for label in labels:
        if text_hash(row.get(f"answer_{label}", "")) != entry.answer_sha256[label]:
            problems.append(f"{where} column answer_{label}: answer text was changed after export")
        ratings[label] = {}
        for aspect in ASPECTS:
            column = f"{label}_{aspect}"
            value = parse_rating(row.get(column, ""))
            if value is None:
                problems.append(
                    f"{where} column {column}: {row.get(column, '')!r} is not a rating "
                    "(use 1/0, yes/no or y/n)"
                )
            else:
                ratings[label][aspect] = value
    return problems, ratings


Ratings = dict[str, dict[str, dict[str, bool]]]  # item -> model -> aspect -> rating


def _collect(
    path: Path, rows: list[dict[str, str]], key: ReviewKey, labels: list[str]
) -> tuple[list[str], dict[str, dict[str, list[bool]]], Ratings]:
    """Validate every row; per model and aspect the list of ratings, and every item's ratings."""
    problems: list[str] = []
    seen: set[str] = set()
    votes: dict[str, dict[str, list[bool]]] = {m: {a: [] for a in ASPECTS} for m in key.models}
    per_item: Ratings = {}
    for number, row in enumerate(rows, start=1):
        item_id = row.get("item", "").strip()
        where = f"{path}: row {number} (item {item_id!r})"
        if item_id not in key.items:
            problems.append(f"{where} column item: not an item of this review's key")
            continue
        if item_id in seen:
            problems.append(f"{where} column item: item appears twice")
            continue
        seen.add(item_id)
        entry = key.items[item_id]
        row_problems, ratings = _check_row(where, row, entry, labels)
        problems += row_problems
        for label, by_aspect in ratings.items():
            per_item.setdefault(item_id, {})[entry.labels[label]] = by_aspect
            for aspect, value in by_aspect.items():
                votes[entry.labels[label]][aspect].append(value)
    missing = sorted(set(key.items) - seen)
    if missing:
        problems.append(f"{path}: items missing from the CSV: {', '.join(missing)}")
    return problems, votes, per_item


def rate_summary(values: Sequence[bool]) -> dict[str, Any]:
    n, yes = len(values), sum(values)
    ci = wilson_interval(yes, n)
    return {
        "n": n,
        "yes": yes,
        "rate": round(yes / n, 6) if n else None,
        "ci": [round(ci[0], 6), round(ci[1], 6)] if ci else None,
    }


def import_review(filled_csv: str | Path, key_path: str | Path) -> dict[str, Any]:
    """Validate a filled review CSV against its key; per-model correctness and helpfulness rates.

    Returns {"items": n, "models": {model: {"correct": {n, yes, rate, ci},
    "helpful": {...}}}, "ratings": {item: {model: {aspect: bool}}},
    "ci_method": "wilson", "ci_level": 0.95}. Raises
    ReviewError listing every problem (missing columns; per row and column: bad
    rating, edited answer, unknown or duplicate item; items missing).
    """
    path = Path(filled_csv)
    key = read_key(key_path)
    labels = labels_for(len(key.models))
    header, rows = read_filled(path)
    missing_columns = [c for c in columns_for(labels) if c not in header and c != "comment"]
    if missing_columns:
        raise ReviewError([f"{path}: missing column(s): {', '.join(missing_columns)}"])
    problems, votes, ratings = _collect(path, rows, key, labels)
    if problems:
        raise ReviewError(problems)
    models = {
        model: {aspect: rate_summary(values) for aspect, values in by_aspect.items()}
        for model, by_aspect in votes.items()
    }
    return {"items": len(rows), "models": models, "ratings": ratings,
            "ci_method": "wilson", "ci_level": 0.95}  # fmt: skip


def flat_metrics(results: Mapping[str, Any]) -> dict[str, float]:
    """`review/<model>/<aspect>_rate` style scalars for MLflow."""
    out: dict[str, float] = {"review/items": float(results["items"])}
    for model, aspects in results["models"].items():
        for aspect, summary in aspects.items():
            if summary["rate"] is not None:
                out[f"review/{model}/{aspect}_rate"] = summary["rate"]
                out[f"review/{model}/{aspect}_ci_low"] = summary["ci"][0]
                out[f"review/{model}/{aspect}_ci_high"] = summary["ci"][1]
    return out


# --- the judge against the clinicians -------------------------------------------------
Unit = tuple[str, str, str]  # (item, model a, model b) with a < b
PREFER_A, PREFER_B, TIE = "a", "b", "tie"


def _preference(score_a: float, score_b: float) -> str:
    return PREFER_A if score_a > score_b else PREFER_B if score_b > score_a else TIE


def model_pairs(models: Sequence[str]) -> list[tuple[str, str]]:
    ordered = sorted(models)
    return [(a, b) for i, a in enumerate(ordered) for b in ordered[i + 1 :]]


def rater_preferences(ratings: Ratings) -> dict[Unit, str]:
    """Per item and pair of models: which answer the raters scored higher (correct + helpful)."""
    prefs: dict[Unit, str] = {}
    for item, per_model in ratings.items():
        score = {m: sum(aspects.values()) for m, aspects in per_model.items()}
        for a, b in model_pairs(list(score)):
            prefs[(item, a, b)] = _preference(score[a], score[b])
    return prefs


def judge_preferences(
    verdicts: Iterable[Verdict], models: Sequence[str], reference_name: str | None = None
) -> dict[Unit, str]:
    """One judge's preferences from its verdicts against the reference (both orders pooled)."""
    by_model: dict[str, list[Verdict]] = {}
    for verdict in verdicts:
        by_model.setdefault(verdict.candidate, []).append(verdict)
    scores = {m: item_means(v) for m, v in by_model.items()}
    if reference_name:  # the reference against itself: a tie by definition
        scores[reference_name] = {i: 0.5 for own in scores.values() for i in own}
    prefs: dict[Unit, str] = {}
    for a, b in model_pairs([m for m in models if m in scores]):
        for item in scores[a].keys() & scores[b].keys():
            prefs[(item, a, b)] = _preference(scores[a][item], scores[b][item])
    return prefs


def chance_agreement(a: Sequence[str], b: Sequence[str]) -> float:
    """Agreement expected by chance from each side's own label frequencies (kappa's p_e)."""
    n = len(a)
    return sum((a.count(x) / n) * (b.count(x) / n) for x in set(a) | set(b)) if n else 0.0


def agreement(judge: Mapping[Unit, str], raters: Mapping[Unit, str]) -> dict[str, Any]:
    """Agreement share and Cohen's kappa on the shared units, each with a 95% interval.

    Both intervals come from the Wilson interval of the observed agreement, counted
    over *items* (an item's pairs of models are not independent), and kappa's is that
    interval put through kappa's chance correction with p_e fixed. A bootstrap would
    not do at review sizes: 4 items in full agreement resample to kappa = 1 every
    time, an interval of [1, 1] that claims far more than 4 items can show.
    """
    units = sorted(judge.keys() & raters.keys())
    a, b = [judge[u] for u in units], [raters[u] for u in units]
    items = len({u[0] for u in units})
    agree = sum(x == y for x, y in zip(a, b, strict=True))
    share = agree / len(units) if units else None
    share_ci = wilson_interval(share * items, items) if share is not None else None
    kappa = cohen_kappa(a, b)
    expected = chance_agreement(a, b)
    kappa_ci = None
    if kappa is not None and share_ci is not None:
        kappa_ci = [round(max(-1.0, (p - expected) / (1 - expected)), 6) for p in share_ci]
    return {"n": len(units), "items": items, "agree": agree,
            "share": None if share is None else round(share, 6),
            "share_ci": None if share_ci is None else [round(x, 6) for x in share_ci],
            "kappa": None if kappa is None else round(kappa, 6), "kappa_ci": kappa_ci}  # fmt: skip


def stand_in(judge: str, result: Mapping[str, Any], min_kappa: float) -> str:
    """A plain sentence: can this judge stand in for the clinicians?"""
    kappa, ci, n = result["kappa"], result["kappa_ci"], result["n"]
    items = result.get("items", n)
    if kappa is None:
        return (f"Judge {judge!r}: agreement with the raters cannot be measured on {n} "
                "comparisons (no comparison, or one side always gave the same preference).")  # fmt: skip
    numbers = (f"kappa {kappa:.2f}" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")
               + f", agreement {result['share']:.0%} on {n} comparisons over {items} items")  # fmt: skip
    if ci and ci[0] >= min_kappa:
        return f"Judge {judge!r} can stand in for the raters ({numbers}; needs kappa above {min_kappa})."
    if ci and ci[1] < min_kappa:
        return f"Judge {judge!r} cannot stand in for the raters ({numbers}; needs kappa above {min_kappa})."
    return (f"Judge {judge!r}: too few rated items to tell whether it can stand in for the raters "
            f"({numbers}; the interval straddles the required {min_kappa}).")  # fmt: skip


def judge_agreement(
    results: Mapping[str, Any], verdicts: Sequence[Verdict], cfg: ReviewConfig
) -> dict[str, dict[str, Any]]:
    """judge -> {n, agree, share, share_ci, kappa, kappa_ci, stands_in, verdict}."""
    raters = rater_preferences(results["ratings"])
    models = sorted({m for per_model in results["ratings"].values() for m in per_model})
    by_judge: dict[str, list[Verdict]] = defaultdict(list)
    for verdict in verdicts:
        by_judge[str(getattr(verdict, "judge", "")) or "judge"].append(verdict)
    out = {}
    for judge, own in by_judge.items():
        prefs = judge_preferences(own, models, cfg.reference_name)
        result = agreement(prefs, raters)
        ci = result["kappa_ci"]
        result["stands_in"] = None if not ci else int(ci[0] >= cfg.min_kappa)
        result["verdict"] = stand_in(judge, result, cfg.min_kappa)
        out[judge] = result
    return out


def agreement_metrics(summary: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """`review/agreement/<judge>/kappa` style scalars (intervals and n included)."""
    out: dict[str, float] = {}
    for judge, result in summary.items():
        prefix = f"review/agreement/{metric_name(judge)}/"
        values = {"n": result["n"], "share": result["share"], "kappa": result["kappa"],
                  "stands_in": result["stands_in"]}  # fmt: skip
        for name in ("share", "kappa"):
            ci = result[f"{name}_ci"]
            values |= {f"{name}_ci_low": ci[0], f"{name}_ci_high": ci[1]} if ci else {}
        out.update({prefix + k: float(v) for k, v in values.items() if v is not None})
    return out


def log_to_run(run_id: str, metrics: Mapping[str, float]) -> None:
    """Add metrics to an existing MLflow run (the judge's evaluate run); no-op without one."""
    if not run_id or not metrics:
        return
    import time

    import mlflow
    from mlflow.entities import Metric

    stamp = int(time.time() * 1000)
    batch = [Metric(key, float(value), stamp, 0) for key, value in sorted(metrics.items())]
    mlflow.MlflowClient().log_batch(run_id, metrics=batch)
