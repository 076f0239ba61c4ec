"""The `evaluate:` section of params.yaml."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from medinstruct_core.params import Config

Device = Literal["auto", "cpu", "cuda"]
# How a model is prompted: "alpaca" = the training template (medinstruct_train.prompting),
# "chat" = the tokenizer's (or the server's) chat template, "none" = the bare question;
# "auto" = alpaca for a model this project tuned (its medinstruct_train.json says so),
# else the chat template when there is one, else alpaca.
PromptFormat = Literal["auto", "chat", "alpaca", "none"]
Untrusted = Literal["warn", "drop", "fail"]
# The pipeline's own models: a candidate of this name without `model`/`endpoint` is it.
PIPELINE_MODELS = ("base", "student")
# Added by the stage when the registry has a champion; users may not take the name.
CHAMPION = "champion"
# Our own held-out set: its answers feed the clinician review, its paired comparison
# the headline and the champion decision.
MAIN_SET = "medinstruct"


class CandidateConfig(Config):
    """One model on the leaderboard: the pipeline's own, a model on disk, or any endpoint.

    `model` is a local model directory, a GGUF file (served by llama.cpp), an MLflow
    model URI (`models:/medinstruct-student@champion`, `models:/medinstruct-student/3`)
    or a hub id (only when online). `endpoint` + `model_name` is any OpenAI-compatible
    server, called through the project's one LLM client (cached, budgeted, traced).
    """

    name: str = Field(min_length=1, pattern=r"^[\w.\-]+$", description="row label and metric key")
    model: str | None = Field(None, min_length=1)
    endpoint: str | None = Field(None, pattern=r"^https?://")
    model_name: str | None = Field(None, min_length=1)
    api_key_env: str = Field("OPENAI_API_KEY", description="the endpoint's key (environment only)")
    template: PromptFormat = "auto"

    @model_validator(mode="after")
    def _one_source(self) -> CandidateConfig:
        if self.model and self.endpoint:
            raise ValueError(f"candidate {self.name!r}: give `model` or `endpoint`, not both")
        if self.endpoint and not self.model_name:
            raise ValueError(f"candidate {self.name!r}: `endpoint` needs `model_name`")
        if self.model_name and not self.endpoint:
            raise ValueError(f"candidate {self.name!r}: `model_name` only goes with `endpoint`")
        if not (self.model or self.endpoint) and self.name not in PIPELINE_MODELS:
            raise ValueError(
                f"candidate {self.name!r}: needs `model` or `endpoint` "
                f"(only {' and '.join(PIPELINE_MODELS)} may omit both: the pipeline's own models)"
            )
        return self

    @property
    def is_pipeline_model(self) -> bool:
        return not (self.model or self.endpoint)


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
    candidates: list[CandidateConfig] = Field(
        default_factory=lambda: [CandidateConfig(name="base"), CandidateConfig(name="student")],
        min_length=1,
        description="every model on the leaderboard; base/student without a model = the pipeline's",
    )
    candidate_cache: str = Field(
        ".cache/candidates", description="where MLflow/hub candidates are downloaded (not an out)"
    )
    min_items_lc: int = Field(
        30, ge=1, description="below this many judged items the LC win rate is not computed"
    )
    significance: float = Field(
        0.05, gt=0.0, lt=1.0, description="sign-test level a paired difference must also pass"
    )
    head_to_head: bool = Field(
        False, description="the judge also compares student and base answers directly"
    )
    eval_sets: list[EvalSetConfig] = Field(
        default_factory=list,
        description="extra eval sets (AlpaCare's), each judged against its reference",
    )
    max_invalid_rate: float = Field(0.1, ge=0.0, le=1.0, description="flag a win rate above this")
    lc_penalty: float = Field(0.01, gt=0.0, description="L2 on the length slope of the LC GLM")
    calibration: CalibrationConfig = Field(default_factory=CalibrationConfig)

    @model_validator(mode="before")
    @classmethod
    def _legacy_prompt_formats(cls, value: object) -> object:
        """`prompt_formats: {base: auto, student: alpaca}` (before candidates existed) becomes
        each candidate's `template`; both at once would be two sources of truth."""
        if not isinstance(value, dict) or "prompt_formats" not in value:
            return value
        value = dict(value)
        formats = value.pop("prompt_formats") or {}
        if "candidates" in value:
            raise ValueError("prompt_formats was replaced by candidates[].template; drop it")
        value["candidates"] = [
            {"name": name, "template": formats.get(name, "auto")} for name in PIPELINE_MODELS
        ]
        return value

    @model_validator(mode="after")
    def _unique_names(self) -> EvaluateConfig:
        for what, names in (
            ("eval_sets", [s.name for s in self.eval_sets]),
            ("candidates", [c.name for c in self.candidates]),
        ):
            duplicates = sorted({n for n in names if names.count(n) > 1})
            if duplicates:
                raise ValueError(f"{what}: duplicate name(s) {duplicates}")
        if any(c.name == CHAMPION for c in self.candidates):
            raise ValueError(
                f"candidates: the name {CHAMPION!r} is reserved for the registry's champion"
            )
        return self

    def template(self, candidate: str) -> PromptFormat:
        """The template a candidate answers through (`auto` for one not listed)."""
        found = [c.template for c in self.candidates if c.name == candidate]
        return found[0] if found else "auto"
