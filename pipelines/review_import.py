"""`make review-import FILE=...`: validate the raters' filled CSV and score each model.

Every bad cell is reported at once (row, column, value). Correctness and helpfulness
rates per model, with Wilson 95% intervals, go to the metrics file and to an MLflow run
tagged with the evaluate run it rates.
"""

from __future__ import annotations

import sys

from medinstruct_core.stage import Stage, StageSpec, stage_main
from medinstruct_core.tracking import latest_stage_run
from medinstruct_eval.review import ReviewConfig, flat_metrics, import_review

SPEC = StageSpec(
    "review_import",
    sections={"review": ReviewConfig},
    inputs=("filled", "key"),
    description=__doc__,
)


def _pct(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate:.0%}"


@stage_main(SPEC)
def main(stage: Stage) -> int:
    results = import_review(stage.path("filled"), stage.path("key"))
    stage.run.set_tags({"medinstruct.rates_run": latest_stage_run(stage.root, "evaluate")})
    stage.run.log_dict(results, "review_results.json")
    models = ", ".join(f"{m}: correct {_pct(r['correct']['rate'])}, helpful {_pct(r['helpful']['rate'])}"
                       for m, r in results["models"].items())  # fmt: skip
    return stage.finish(flat_metrics(results), f"{results['items']} items rated; {models}")


if __name__ == "__main__":
    sys.exit(main())
