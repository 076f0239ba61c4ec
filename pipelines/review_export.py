"""`make review-export`: a blinded CSV of the evaluated answers for clinician raters.

As the paper ran its human evaluation: per item the answers appear as A, B, ... in an
order drawn from `review.seed`, with no model names; raters mark each answer's
correctness and helpfulness. The key (which label is which model) goes to a separate
file: keep it away from the raters.
"""

from __future__ import annotations

import sys

from medinstruct_core.io import read_jsonl
from medinstruct_core.stage import Stage, StageSpec, stage_main
from medinstruct_eval.answer import CandidateAnswer
from medinstruct_eval.evalsets import load_eval_set
from medinstruct_eval.review import ReviewConfig, export_review, review_answers

SPEC = StageSpec(
    "review_export",
    sections={"review": ReviewConfig},
    inputs=("eval_set", "answers"),
    outputs=("csv", "key"),
    metrics=False,
    description=__doc__,
)


@stage_main(SPEC)
def main(stage: Stage) -> int:
    cfg = stage.cfg("review")
    answers = read_jsonl(stage.path("answers"), CandidateAnswer)
    rows = review_answers(load_eval_set(stage.path("eval_set")), answers, cfg.reference_name)
    info = export_review(rows, stage.path("csv"), stage.path("key"), cfg.seed, cfg.num_items)
    return stage.finish(info, f"{info['items']} items for raters -> {stage.path('csv')} "
                        f"(key: {stage.path('key')})")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
