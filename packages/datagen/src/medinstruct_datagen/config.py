"""params.yaml models for the two generation stages.

Field names match the `generate_instructions:` and `generate_responses:`
sections of params.yaml exactly; `extra="forbid"` (from `Config`) turns a typo
into an error that names the key instead of a silently ignored setting.
"""

from __future__ import annotations

from pydantic import Field

from medinstruct_core.params import Config


class GenerateInstructionsConfig(Config):
    """How the teacher is asked for new tasks and when generation stops."""

    num_tasks: int = Field(60, ge=1, description="stop once this many tasks survive ROUGE-L dedup")
    seed_tasks_per_prompt: int = Field(3, ge=1, description="clinician seeds shown per request")
    machine_tasks_per_prompt: int = Field(
        0,
        ge=0,
        description="generated tasks mixed into each prompt (Self-Instruct: 2, AlpaCare: 0)",
    )
    tasks_per_request: int = Field(12, ge=1, description="new tasks asked for per request")
    rouge_threshold: float = Field(0.7, ge=0.0, le=1.0, description="drop when ROUGE-L F > this")
    max_requests: int = Field(60, ge=1, description="hard stop even if num_tasks is not reached")
    requests_per_round: int = Field(
        4,
        ge=1,
        description="requests sent together between dedup steps (the last round may be cut by max_requests)",
    )
    # A teacher in Batch API mode (`llm.teacher.batch: true`) waits for every batch (up
    # to 24 h). Without generated tasks in the prompts no request depends on another's
    # reply, so it plans its requests up front: a pilot, then one batch for the rest.
    batch_plan: bool = Field(
        True,
        description="batch-mode teacher with machine_tasks_per_prompt 0: plan requests up front",
    )
    batch_pilot_requests: int = Field(
        20, ge=1, description="planned mode: requests answered first to measure the keep yield"
    )
    batch_margin: float = Field(
        0.15, ge=0.0, description="planned mode: extra requests over the estimate (0.15 = +15%)"
    )


class GenerateResponsesConfig(Config):
    """How many instructions the responder answers."""

    max_examples: int = Field(0, ge=0, description="0 = all instructions")
