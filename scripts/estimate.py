"""`make estimate`: what the paid LLM stages of the current params will cost, before they run.

    python scripts/estimate.py [--params params.yaml]

Prints, per stage and role, the requests, tokens in and out and USD as a low-high
range with the expected value (medinstruct_core.llm.estimate explains the bounds),
then where that stands against the ledger's budget. Exit 2 when even the low end
is more than the ledger has left: the run would stop at the cap before it is done.

The figures come from the stages' own prompt builders (datagen, evaluate), the
roles' `max_tokens`, the reply lengths this machine's cache has measured (when it
has replies of the role's model), the last generation run's kept share, and the
prices in `llm.client.prices`. Roles served by the embedded model or a
`free_endpoints` URL cost nothing and are shown as free.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from medinstruct_core.io import DataError, read_jsonl
from medinstruct_core.llm.config import LLMSection
from medinstruct_core.llm.estimate import Estimate, budget_text, read_budget, table
from medinstruct_core.params import ParamsError, load_section, read_params
from medinstruct_core.records import GeneratedTask
from medinstruct_datagen.config import GenerateInstructionsConfig, GenerateResponsesConfig
from medinstruct_datagen.estimate import instructions_role, responses_role
from medinstruct_datagen.seeds import load_seed_tasks
from medinstruct_eval.config import EvaluateConfig
from medinstruct_eval.estimate import judging_roles
from medinstruct_eval.run import load_sets

SEEDS = Path("data/seeds/seed_tasks.jsonl")
INSTRUCTIONS = Path("data/generated/instructions.jsonl")
EVAL_SET = Path("data/eval/eval_set.jsonl")


def build(params: Path) -> Estimate:
    """Every paid role of the DAG, estimated from the params file and the files beside it."""
    root = params.resolve().parent
    seed = int(read_params(params).get("seed", 42))
    llm = load_section(params, "llm", LLMSection).seeded(seed)
    gen = load_section(params, "generate_instructions", GenerateInstructionsConfig)
    seeds = load_seed_tasks(root / SEEDS)
    # Generated instructions, when there are some, are better stand-ins for the
    # responder's prompts than the seeds; their number is the plan's, not the file's.
    generated = root / INSTRUCTIONS
    stand_ins = read_jsonl(generated, GeneratedTask) if generated.exists() else seeds
    responses = responses_role(
        None, load_section(params, "generate_responses", GenerateResponsesConfig), llm,
        root=root, planned_tasks=gen.num_tasks, stand_ins=stand_ins or seeds,
    )  # fmt: skip
    evaluate = load_section(params, "evaluate", EvaluateConfig)
    cwd = Path.cwd()
    try:  # eval-set paths in params are relative to the project root
        os.chdir(root)
        sets = [s.items for s in load_sets(EVAL_SET, evaluate)]
        judges = judging_roles(sets, evaluate, llm, root=root)
    finally:
        os.chdir(cwd)
    roles = [instructions_role(seeds, gen, llm, root=root, seed=seed), responses, *judges]
    stages = sorted({role.stage for role in roles})
    return Estimate(roles, read_budget(root, llm.client, stages), llm.client)


def report(estimate: Estimate, params: Path) -> str:
    profile = read_params(params).get("profile", "default")
    lines = [
        f"LLM cost estimate for {params} (profile: {profile}); USD at llm.client.prices, "
        "low-high range and the expected value",
        "",
        table(estimate),
        "",
        *(f"  {r.stage} / {r.role}: {r.note}" for r in estimate.roles),
        "",
        budget_text(estimate),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/estimate.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    try:
        estimate = build(args.params)
    except (ParamsError, DataError, OSError) as exc:
        print(f"estimate: error: {exc}", file=sys.stderr)
        return 2
    print(report(estimate, args.params))
    return 0 if estimate.fits() else 2


if __name__ == "__main__":
    sys.exit(main())
