"""Stage `train`: SFT of the base model on the curated MedInstruct set (TRL + PEFT).

Loss is on the answers only (Alpaca prompt -> completion). Writes the student
(merged model + adapter), the summary metrics and the per-step loss CSV for
`dvc plots`. Under `accelerate launch` every process runs this script; only
the main process logs to MLflow and writes metrics (medinstruct_core.stage).
"""

from __future__ import annotations

import sys

from medinstruct_core.io import read_jsonl
from medinstruct_core.records import Example
from medinstruct_core.stage import Stage, StageSpec, stage_main
from medinstruct_train.runtime import write_loss_csv
from medinstruct_train.sft import TrainConfig, train_sft, with_seed

SPEC = StageSpec(
    "train",
    sections={"train": TrainConfig},
    inputs=("train", "base"),
    outputs=("out", "plots"),
    description=__doc__,
)


@stage_main(SPEC)
def main(stage: Stage) -> int:
    cfg = with_seed(stage.cfg("train"), stage.seed)
    examples = read_jsonl(stage.path("train"), Example)
    result = train_sft(
        cfg, stage.path("base"), examples, stage.path("out"), on_log=stage.log_metrics
    )
    if stage.main:
        write_loss_csv(stage.path("plots"), result.loss_history)
    stage.run.set_tags({"train.device": result.device})
    return stage.finish(result.summary(), f"{result.steps} steps on {result.n_train} examples, "
                        f"{result.tokens_per_s:.0f} tok/s, final loss {result.final_loss:.4f}")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
