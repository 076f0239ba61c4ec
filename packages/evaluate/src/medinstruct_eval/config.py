"""The `evaluate:` section of params.yaml."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from medinstruct_core.params import Config

Device = Literal["auto", "cpu", "cuda"]


class EvaluateConfig(Config):
    """How many held-out items to answer, how, and how to summarise the verdicts.

    Paths (eval set, model directories, outputs) come from the command line, so
    DVC sees them as deps/outs; only knobs that change the result live here.
    """

    num_items: int = Field(16, ge=0, description="first N items of the eval set; 0 = all")
    max_new_tokens: int = Field(160, ge=1)
    batch_size: int = Field(8, ge=1)
    device: Device = "auto"
    torch_threads: int = Field(
        0, ge=0, description="CPU threads for generation; 0 = torch's default (all cores)"
    )
    bootstrap_samples: int = Field(1000, ge=0, description="0 = no confidence interval")
    seed: int = 42
