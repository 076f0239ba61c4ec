"""`make review-import FILE=...`: validate the raters' filled CSV, score each model, and say
whether the LLM judge can stand in for the raters.

Every bad cell is reported at once (row, column, value). Correctness and helpfulness
rates per model, with Wilson 95% intervals, go to the metrics file and to an MLflow run
tagged with the evaluate run it rates. Given the evaluate stage's verdicts, each judge's
preferences are compared with the raters' on the same items: agreement share and Cohen's
kappa with intervals, logged here and to the judge's own (evaluate) run.
"""

from __future__ import annotations

import sys

from medinstruct_core.io import read_jsonl
from medinstruct_core.stage import Stage, StageSpec, stage_main
from medinstruct_core.tracking import latest_stage_run
from medinstruct_eval.config import MAIN_SET
from medinstruct_eval.judge import PanelVerdict
from medinstruct_eval.review import (
    ReviewConfig,
    agreement_metrics,
    flat_metrics,
    import_review,
    judge_agreement,
    log_to_run,
)

SPEC = StageSpec(
    "review_import",
    sections={"review": ReviewConfig},
    inputs=("filled", "key"),
    optional_inputs=("verdicts",),
    description=__doc__,
)


def _pct(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate:.0%}"


@stage_main(SPEC)
def main(stage: Stage) -> int:
    results = import_review(stage.path("filled"), stage.path("key"))
    metrics, sentences = flat_metrics(results), []
    if stage.path("verdicts") is not None:
        verdicts = [
            v for v in read_jsonl(stage.path("verdicts"), PanelVerdict) if v.eval_set == MAIN_SET
        ]
        results["agreement"] = judge_agreement(results, verdicts, stage.cfg("review"))
        metrics |= agreement_metrics(results["agreement"])
        sentences = [a["verdict"] for a in results["agreement"].values()]
    rated_run = latest_stage_run(stage.root, "evaluate") if stage.run.run_id else ""
    stage.run.set_tags({"medinstruct.rates_run": rated_run})
    log_to_run(rated_run, {k: v for k, v in metrics.items() if k.startswith("review/agreement/")})
    stage.run.log_dict(results, "review_results.json")
    models = ", ".join(f"{m}: correct {_pct(r['correct']['rate'])}, helpful {_pct(r['helpful']['rate'])}"
                       for m, r in results["models"].items())  # fmt: skip
    return stage.finish(
        metrics, " ".join([f"{results['items']} items rated; {models}.", *sentences])
    )


if __name__ == "__main__":
    sys.exit(main())
