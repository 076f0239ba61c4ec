"""Load examples for the gate and compute the columns and metrics its suites check.

The gate reads raw JSON objects instead of `Example` models on purpose: a
missing field, a null or a wrong type should show up as a failed expectation
in the report (with the offending lines), not as a pydantic crash on the
first bad record.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from medinstruct_core.io import iter_jsonl_dicts
from medinstruct_gate.config import DiversityConfig
from medinstruct_gate.diversity import (
    RougeReport,
    distinct_n,
    max_share,
    mean_pairwise_rouge,
    nearest_rouge,
    sample_rows,
)
from medinstruct_gate.verbs import VerbObject, pair_counts, verb_objects
from medinstruct_text.taxonomy import canonical_share

if TYPE_CHECKING:
    from spacy.language import Language

WORD_COLUMNS = {
    "instruction": "instruction_words",
    "input": "input_words",
    "output": "output_words",
}
METRIC_COLUMNS = (
    "max_type_share",
    "max_pairwise_rouge_l",
    "mean_pairwise_rouge_l",
    "distinct_2",
    "verb_object_pairs",
    "canonical_label_share",
)


def load_examples_frame(path: str | Path) -> pd.DataFrame:
    """One row per JSONL line, indexed by line number so failures can point at the file.

    Malformed JSON still raises DataError (file and line): that is not a
    quality problem the gate can describe, the file is simply unreadable.
    """
    lines, rows = [], []
    for lineno, obj in iter_jsonl_dicts(path):
        lines.append(lineno)
        rows.append(obj)
    return pd.DataFrame(rows, index=pd.Index(lines, name="line"))


def word_count(value: Any) -> float:
    """Whitespace word count of a string; NaN for anything else (a null is not zero words)."""
    return float(len(value.split())) if isinstance(value, str) else math.nan


def with_word_counts(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with `<column>_words` for each text column (NaN where the column is missing)."""
    out = frame.copy()
    for column, derived in WORD_COLUMNS.items():
        if column in out.columns:
            out[derived] = out[column].map(word_count).astype("float64")
        else:
            out[derived] = pd.Series(math.nan, index=out.index, dtype="float64")
    return out


def text_values(frame: pd.DataFrame, column: str) -> list[str]:
    """The column as strings, with nulls and non-strings as "" (schema reports those)."""
    if column not in frame.columns:
        return [""] * len(frame)
    return [value if isinstance(value, str) else "" for value in frame[column].tolist()]


def canonical_label_shares(frame: pd.DataFrame) -> dict[str, float]:
    """Share of canonical labels per label column, and the worse of the two.

    A missing column is left out (the schema suite reports it); with neither
    column the share is 1.0, so this check never doubles a schema failure.
    """
    shares = {
        f"canonical_{column}_share": canonical_share(frame[column].tolist(), column)
        for column in ("type", "view")
        if column in frame.columns
    }
    return {**shares, "canonical_label_share": min(shares.values(), default=1.0)}


@dataclass
class DiversityMetrics:
    """Dataset-level numbers, plus the evidence behind them for reports and plots.

    `verb_objects` holds one pair per sampled row (`sample`, row positions), not
    per row: the parse runs on the sample only.
    """

    values: dict[str, float]
    rouge: RougeReport
    verb_objects: list[VerbObject | None]
    sample: list[int]

    def frame(self) -> pd.DataFrame:
        """The one-row table the `diversity_metrics` suite validates."""
        return pd.DataFrame([self.values], index=pd.Index(["dataset"], name="scope"))


def compute_diversity(frame: pd.DataFrame, cfg: DiversityConfig, nlp: Language) -> DiversityMetrics:
    """Every diversity metric over the instructions; no NaN (GX would skip a null silently).

    Over all rows: the shares, the nearest-neighbour ROUGE-L (a per-pair
    contract) and the mean pairwise ROUGE-L (random pairs). On the seeded
    `cfg.sample_size` sample: distinct-2 and the verb-object parse, whose
    values would otherwise drift with the row count (config.SIZE_KINDS).
    """
    instructions = text_values(frame, "instruction")
    # str(): a malformed label (list, dict) must not crash Counter; schema reports it.
    types = [str(v) for v in frame["type"].tolist()] if "type" in frame.columns else []
    rouge = nearest_rouge(instructions, cfg.dedup_threshold, cfg.exact_rouge_max_n)
    sample = sample_rows(len(instructions), cfg.sample_size, cfg.seed)
    sampled = [instructions[i] for i in sample]
    pairs = verb_objects(sampled, nlp) if sampled else []
    counts = pair_counts(pairs)
    values = {
        "max_type_share": max_share(types),
        # Not rounded: a score a hair above the threshold must fail here as it does in dedup.
        "max_pairwise_rouge_l": rouge.max_score,
        "mean_pairwise_rouge_l": mean_pairwise_rouge(instructions, cfg.sample_pairs, cfg.seed),
        "distinct_2": distinct_n(sampled, 2),
        "verb_object_pairs": float(len(counts)),
        **canonical_label_shares(frame),
        "distinct_root_verbs": float(len({p[0] for p in pairs if p is not None})),
        "rows_with_near_duplicate": float(rouge.n_rows_over),
        "rouge_exact": float(rouge.exact),
        "n_rows": float(len(frame)),
        "sample_rows": float(len(sample)),
    }
    return DiversityMetrics(values=values, rouge=rouge, verb_objects=pairs, sample=sample)
