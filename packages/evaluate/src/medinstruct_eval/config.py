"""The `evaluate:` section of params.yaml."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from medinstruct_core.params import Config

Device = Literal["auto", "cpu", "cuda"]
# How a model is prompted: "alpaca" = the training template (medinstruct_train.prompting),
# "chat" = the tokenizer's chat template, "auto" = the chat template when the tokenizer has one.
PromptFormat = Literal["auto", "chat", "alpaca"]
Untrusted = Literal["warn", "drop", "fail"]


class EvalSetConfig(Config):
    """One eval set and the reference model its answers come from (see evalsets.load_eval_set)."""

    name: str = Field(
        min_length=1, pattern=r"^[\w.\-]+$", description="metric prefix, e.g. medinstruct_gpt-4"
    )
    path: str = Field(min_length=1)
    reference: str | None = Field(
        None,
        description="MedInstruct-test.jsonl only: gpt-4 | claude-2 | gpt-3.5-turbo | text-davinci-003",
    )
    num_items: int | None = Field(None, ge=0, description="None = evaluate.num_items; 0 = all")


class CalibrationThresholds(Config):
    """What a judge must achieve on the calibration set to be trusted."""

    min_accuracy: float = Field(0.8, ge=0.0, le=1.0, description="in each presentation order")
    position_low: float = Field(0.3, ge=0.0, le=1.0)
    position_high: float = Field(0.7, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _ordered(self) -> CalibrationThresholds:
        if self.position_low > self.position_high:
            raise ValueError(
                f"position_low {self.position_low} > position_high {self.position_high}"
            )
        return self


class CalibrationConfig(Config):
    """Judge calibration: pairs where one answer is clearly worse, judged in both orders."""

    enabled: bool = True
    path: str = "data/eval/calibration.jsonl"
    num_items: int | None = Field(None, ge=1, description="first N pairs (None = all)")
    thresholds: CalibrationThresholds = Field(default_factory=CalibrationThresholds)
    on_untrusted: Untrusted = Field(
        "warn", description="warn: report only; drop: leave the judge out of the panel; fail: stop"
    )


class EvaluateConfig(Config):
    """How many held-out items to answer, how, and how to summarise the verdicts.

    Paths of the main eval set, model directories and outputs come from the
    command line, so DVC sees them as deps/outs; extra eval sets and the
    calibration set are listed here (the stage must also list them as DVC deps).
    """

    num_items: int = Field(16, ge=0, description="first N items of the eval set; 0 = all")
    max_new_tokens: int = Field(160, ge=1)
    batch_size: int = Field(8, ge=1)
    device: Device = "auto"
    torch_threads: int = Field(
        0, ge=0, description="CPU threads for generation; 0 = torch's default (all cores)"
    )
    bootstrap_samples: int = Field(1000, ge=0, description="0 = no confidence interval")
    prompt_formats: dict[str, PromptFormat] = Field(
        default_factory=lambda: dict[str, PromptFormat](base="auto", student="alpaca"),
        description="per candidate; a candidate not listed uses alpaca",
    )
    eval_sets: list[EvalSetConfig] = Field(
        default_factory=list,
        description="extra eval sets (AlpaCare's), each judged against its reference",
    )
    max_invalid_rate: float = Field(0.1, ge=0.0, le=1.0, description="flag a win rate above this")
    lc_penalty: float = Field(0.01, gt=0.0, description="L2 on the length slope of the LC GLM")
    calibration: CalibrationConfig = Field(default_factory=CalibrationConfig)

    @model_validator(mode="after")
    def _unique_set_names(self) -> EvaluateConfig:
        names = [s.name for s in self.eval_sets]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"eval_sets: duplicate name(s) {duplicates}")
        return self
