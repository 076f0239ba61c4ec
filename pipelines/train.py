"""Stage `train`: SFT of the base model on the curated MedInstruct set (TRL + PEFT).

Loss is on the answers only (Alpaca prompt -> completion). Writes the student
(merged model + adapter), the summary metrics and the per-step loss CSV for
`dvc plots`, and registers the student in the MLflow Model Registry. `dvc.yaml`
starts it through `medinstruct_train.launch`, which runs `accelerate launch` when
`train.distributed` asks; then every process runs this script and only the main
process logs, writes metrics and registers (medinstruct_core.stage).
"""

from __future__ import annotations

import sys

from medinstruct_core.io import read_jsonl
from medinstruct_core.lineage import file_md5
from medinstruct_core.records import Example
from medinstruct_core.stage import Stage, StageSpec, stage_main
from medinstruct_train.registry import register_student
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
    data_md5 = file_md5(stage.path("train"))
    examples = read_jsonl(stage.path("train"), Example)
    result = train_sft(cfg, stage.path("base"), examples, stage.path("out"),
                       on_log=stage.log_metrics, data_md5=data_md5)  # fmt: skip
    if not stage.main:
        return 0
    write_loss_csv(stage.path("plots"), result.loss_history)
    if stage.run.run_id:
        version = register_student(stage.path("out"), root=stage.root,
                                   data_name=stage.lineage(stage.path("train")), data_md5=data_md5)  # fmt: skip
        stage.run.set_tags({"medinstruct.student_version": version.version})
    stage.run.set_tags(
        {"train.device": result.device, "train.checkpoint_key": str(result.checkpoint_key)}
    )
    metrics = {k: v for k, v in result.summary().items() if isinstance(v, int | float)}
    return stage.finish(metrics, f"{result.steps} steps on {result.n_train} examples, "
                        f"{result.tokens_per_s:.0f} tok/s, final loss {result.final_loss:.4f}")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
