"""The gate's Great Expectations suites, built in code from GateConfig.

Four suites in three families:

* `schema` (examples table): columns, nulls, types, lengths, difficulty, uniqueness;
* `diversity` (examples table): distinct types/topics/views, every difficulty present;
* `diversity_metrics` (one-row metrics table): type share, ROUGE-L, distinct-2,
  verb-object pairs, share of canonical type/view labels; each is a column so
  the failure shows the observed value. Distinct-2 and verb-object pairs are
  measured on a fixed-size seeded sample (`sample_size` rows), so every bound
  means the same at 1k rows as at 52k (config.SIZE_KINDS);
* `safety` (examples table): PHI, refusal and multimodal regexes per text column,
  so the report lists the offending rows.

Each expectation carries `meta={"check": ...}`, a short stable name the
summary and the tests use.
"""

from __future__ import annotations

from collections.abc import Iterable

import great_expectations as gx
import great_expectations.expectations as gxe

from medinstruct_gate.config import (
    REQUIRED_COLUMNS,
    SIZE_KINDS,
    DiversityConfig,
    GateConfig,
    SafetyConfig,
    SchemaConfig,
)
from medinstruct_text.safety import FAMILY_COLUMNS, safety_patterns

STRING_COLUMNS = ("id", "type", "topic", "view", "instruction", "input", "output")
LABEL_COLUMNS = ("id", "type", "topic", "view", "instruction")
SUITE_FAMILIES = {
    "schema": "schema",
    "diversity": "diversity",
    "diversity_metrics": "diversity",
    "safety": "safety",
}


def _meta(check: str) -> dict[str, str]:
    return {"check": check}


def schema_expectations(cfg: SchemaConfig, columns: Iterable[str]) -> list[gxe.Expectation]:
    """Row contract. Per-column checks are built only for columns that exist: a missing
    required column is reported once, by `required_columns`, not as a dozen GX errors."""
    present = set(columns)
    exps: list[gxe.Expectation] = [
        gxe.ExpectTableRowCountToBeBetween(min_value=cfg.min_rows, meta=_meta("min_rows")),
        gxe.ExpectTableColumnsToMatchSet(
            column_set=list(REQUIRED_COLUMNS), exact_match=False, meta=_meta("required_columns")
        ),
    ]
    exps += [
        gxe.ExpectColumnValuesToNotBeNull(column=c, meta=_meta(f"{c}_not_null"))
        for c in REQUIRED_COLUMNS
        if c in present
    ]
    exps += [
        gxe.ExpectColumnValuesToBeOfType(column=c, type_="str", meta=_meta(f"{c}_is_str"))
        for c in STRING_COLUMNS
        if c in present
    ]
    exps += [
        gxe.ExpectColumnValueLengthsToBeBetween(column=c, min_value=1, meta=_meta(f"{c}_not_empty"))
        for c in LABEL_COLUMNS
        if c in present
    ]
    if "difficulty" in present:
        exps += _difficulty_expectations(cfg)
    exps += _length_expectations(cfg)
    exps += [
        gxe.ExpectColumnValuesToBeUnique(column=c, meta=_meta(f"unique_{c}"))
        for c in ("instruction", "id")
        if c in present
    ]
    return exps + _completion_expectations(cfg, present)


def _difficulty_expectations(cfg: SchemaConfig) -> list[gxe.Expectation]:
    return [
        gxe.ExpectColumnValuesToBeInTypeList(
            column="difficulty",
            type_list=["int", "int64", "int32"],
            meta=_meta("difficulty_is_int"),
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="difficulty",
            value_set=list(cfg.difficulty_levels),
            meta=_meta("difficulty_range"),
        ),
    ]


def _length_expectations(cfg: SchemaConfig) -> list[gxe.Expectation]:
    """Word-count bounds on derived columns (NaN where the text is null or missing)."""
    bounds = {
        "instruction_words": (cfg.min_instruction_words, cfg.max_instruction_words),
        "input_words": (0, cfg.max_input_words),
        "output_words": (cfg.min_output_words, cfg.max_output_words),
    }
    return [
        gxe.ExpectColumnValuesToBeBetween(column=col, min_value=lo, max_value=hi, meta=_meta(col))
        for col, (lo, hi) in bounds.items()
    ]


def _completion_expectations(cfg: SchemaConfig, present: set[str]) -> list[gxe.Expectation]:
    """Responder bookkeeping fields are optional in the file; checked when they are there."""
    if not cfg.reject_truncated:
        return []
    exps: list[gxe.Expectation] = []
    if "truncated" in present:
        exps.append(
            gxe.ExpectColumnValuesToBeInSet(
                column="truncated", value_set=[False], meta=_meta("not_truncated")
            )
        )
    if "finish_reason" in present:
        exps.append(
            gxe.ExpectColumnValuesToNotBeInSet(
                column="finish_reason",
                value_set=["length", "content_filter", "error"],
                meta=_meta("finish_reason"),
            )
        )
    return exps


def diversity_expectations(
    cfg: DiversityConfig, levels: list[int], columns: Iterable[str]
) -> list[gxe.Expectation]:
    """Label coverage on the examples table; absent columns are left to the schema suite."""
    present = set(columns)
    minimums = {
        "type": cfg.min_distinct_types,
        "topic": cfg.min_distinct_topics,
        "view": cfg.min_distinct_views,
    }
    exps: list[gxe.Expectation] = [
        gxe.ExpectColumnUniqueValueCountToBeBetween(
            column=c, min_value=m, meta=_meta(f"distinct_{c}s")
        )
        for c, m in minimums.items()
        if c in present
    ]
    if cfg.require_all_difficulties and "difficulty" in present:
        exps.append(
            gxe.ExpectColumnDistinctValuesToContainSet(
                column="difficulty", value_set=list(levels), meta=_meta("all_difficulties")
            )
        )
    return exps


def metrics_expectations(cfg: DiversityConfig) -> list[gxe.Expectation]:
    """Bounds on the one-row metrics table (see gate_data.compute_diversity).

    Each carries meta "size": how its metric behaves as rows are added
    (config.SIZE_KINDS), so Data Docs say whether a value was sampled.
    """
    bounds: dict[str, tuple[str, float | None, float | None]] = {
        "max_type_share": ("max_type_share", None, cfg.max_type_share),
        "max_pairwise_rouge_l": ("dedup_threshold", None, cfg.dedup_threshold),
        "mean_pairwise_rouge_l": ("max_mean_pairwise_rouge", None, cfg.max_mean_pairwise_rouge),
        "distinct_2": ("min_distinct_2", cfg.min_distinct_2, None),
        "verb_object_pairs": ("min_verb_object_pairs", float(cfg.min_verb_object_pairs), None),
        "canonical_label_share": ("min_canonical_label_share", cfg.min_canonical_label_share, None),
    }
    return [
        gxe.ExpectColumnValuesToBeBetween(
            column=col,
            min_value=lo,
            max_value=hi,
            meta={"check": col, "size": SIZE_KINDS[key][0]},
        )
        for col, (key, lo, hi) in bounds.items()
    ]


def safety_expectations(cfg: SafetyConfig, columns: Iterable[str]) -> list[gxe.Expectation]:
    """One NotMatchRegexList per (family, text column): GX lists the offending rows, and
    the summary names the patterns they hit (gate_report), at a seventh of the GX cost
    of one expectation per pattern."""
    present = set(columns)
    families = safety_patterns(cfg.check_phi, cfg.check_refusals, cfg.check_multimodal)
    return [
        gxe.ExpectColumnValuesToNotMatchRegexList(
            column=column,
            regex_list=list(patterns.values()),
            meta={"check": family, "patterns": list(patterns)},
        )
        for family, patterns in families.items()
        for column in FAMILY_COLUMNS[family]
        if column in present
    ]


def build_suites(cfg: GateConfig, columns: Iterable[str]) -> dict[str, gx.ExpectationSuite]:
    """All four suites by name (see SUITE_FAMILIES)."""
    columns = list(columns)
    groups = {
        "schema": schema_expectations(cfg.schema_, columns),
        "diversity": diversity_expectations(cfg.diversity, cfg.schema_.difficulty_levels, columns),
        "diversity_metrics": metrics_expectations(cfg.diversity),
        "safety": safety_expectations(cfg.safety, columns),
    }
    return {
        name: gx.ExpectationSuite(name=f"medinstruct_{name}", expectations=exps)
        for name, exps in groups.items()
    }
