"""What the two generation stages will send, counted before they send it.

The arithmetic and the budget verdict are `medinstruct_core.llm.estimate`'s; here
are the stage-specific counts, built from the stages' own request builders so
the prompts measured are the prompts sent:

- **generate_instructions**: requests = tasks wanted / (tasks per request x the
  share of asked tasks that is kept), in whole rounds, never past `max_requests`.
  The share kept comes from the last run's metrics when there is one
  (`metrics/generate_instructions.json`, `keep_yield`), else from the range
  seen so far (90% kept at best, 70% expected; the worst case is `max_requests`).
  Prompt tokens: the real prompts of the first `SAMPLE_REQUESTS` requests;
- **generate_responses**: one request per instruction, the real prompts when the
  instructions exist, else the seed tasks' prompts as stand-ins for `num_tasks`
  generated ones.

Reply lengths are measured from this machine's cache when it holds at least 20
replies of the role's model and shape, else assumed (figures from the 52k
rehearsal: about 125 tokens per task in a teacher's list, 250-350 per answer).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from medinstruct_core.llm.config import LLMSection, RoleConfig
from medinstruct_core.llm.estimate import (
    Estimate,
    ReplyLengths,
    RoleEstimate,
    Span,
    cached_reply_tokens,
    measured_or,
    prompt_token_span,
    read_budget,
    role_estimate,
    role_price,
)
from medinstruct_core.records import Task
from medinstruct_datagen.config import GenerateInstructionsConfig, GenerateResponsesConfig
from medinstruct_datagen.instructions import build_request
from medinstruct_datagen.responses import build_response_request, select_tasks

SAMPLE_REQUESTS = 64  # teacher prompts built and counted (they differ only in their examples)
MAX_RESPONSE_PROMPTS = 5_000  # instructions counted exactly; beyond, the mean is scaled
# Share of the tasks asked for that survive the rules and ROUGE-L: best and expected.
KEEP_YIELD_BEST, KEEP_YIELD_EXPECTED = 0.9, 0.7
TEACHER_TOKENS_PER_TASK = (60.0, 125.0)  # a short task / a typical one, input included
RESPONDER_REPLY = ReplyLengths(low=120.0, mean=300.0)
INSTRUCTIONS_METRICS = Path("metrics/generate_instructions.json")


def _env(env: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if env is None else env


def measured_yield(root: Path) -> float | None:
    """`keep_yield` of the last generate_instructions run, if it asked for anything."""
    path = root / INSTRUCTIONS_METRICS
    try:
        metrics = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    value = metrics.get("keep_yield")
    asked = metrics.get("tasks_requested") or 0
    return float(value) if isinstance(value, int | float) and value > 0 and asked > 0 else None


def instruction_requests(cfg: GenerateInstructionsConfig, keep_yield: float | None) -> Span:
    """Requests until `num_tasks` are kept, in whole rounds, capped at `max_requests`."""

    def needed(share: float) -> float:
        requests = math.ceil(cfg.num_tasks / (cfg.tasks_per_request * share))
        rounds = math.ceil(requests / cfg.requests_per_round)
        return float(min(cfg.max_requests, rounds * cfg.requests_per_round))

    expected = keep_yield or KEEP_YIELD_EXPECTED
    best = max(expected, KEEP_YIELD_BEST)
    return Span(needed(best), needed(expected), float(cfg.max_requests))


def teacher_replies(root: Path, llm: LLMSection, cfg: GenerateInstructionsConfig) -> ReplyLengths:
    low, mean = TEACHER_TOKENS_PER_TASK
    n = cfg.tasks_per_request
    assumed = ReplyLengths(low * n, mean * n)
    return measured_or(cached_reply_tokens(root, llm.client, llm.teacher.model, "tasks"), assumed)


def _structured(role: RoleConfig) -> str:
    """The response mode the prompt is built for (a remote endpoint speaks json_schema)."""
    return "off" if role.structured_output == "off" else "json_schema"


def instructions_role(
    seeds: Sequence[Task],
    cfg: GenerateInstructionsConfig,
    llm: LLMSection,
    *,
    root: Path,
    seed: int = 42,
    env: Mapping[str, str] | None = None,
) -> RoleEstimate:
    """The teacher's requests, tokens and price for `generate_instructions`."""
    role, mode = llm.teacher, _structured(llm.teacher)
    sample = [build_request(i, seeds, seeds, cfg, seed, mode, role.sampling)
              for i in range(min(SAMPLE_REQUESTS, cfg.max_requests))]  # fmt: skip
    keep_yield = measured_yield(root)
    replies = teacher_replies(root, llm, cfg)
    price = role_price(role, llm.client, _env(env))
    note = f"replies: {replies.source}; kept share: " + (
        f"{keep_yield:.2f} (last run)" if keep_yield else f"{KEEP_YIELD_EXPECTED} (assumed)"
    )
    return role_estimate(
        stage="generate_instructions", role="teacher", model=role.model,
        requests=instruction_requests(cfg, keep_yield),
        prompt_tokens_per_request=prompt_token_span(sample, role.model, exact=price is not None),
        replies=replies, max_tokens=role.sampling.max_tokens,
        price=price, batch=role.batch, note=note,
    )  # fmt: skip


def responder_replies(root: Path, llm: LLMSection) -> ReplyLengths:
    tokens = cached_reply_tokens(root, llm.client, llm.responder.model, "answer")
    return measured_or(tokens, RESPONDER_REPLY)


def responses_role(
    tasks: Sequence[Task] | None,
    cfg: GenerateResponsesConfig,
    llm: LLMSection,
    *,
    root: Path,
    planned_tasks: int = 0,
    stand_ins: Sequence[Task] = (),
    env: Mapping[str, str] | None = None,
) -> RoleEstimate:
    """The responder's requests for `generate_responses`: the real instructions when given,
    else `planned_tasks` of them with `stand_ins` (the seeds) as their prompts."""
    role = llm.responder
    if tasks is not None:
        chosen, note = select_tasks(tasks, cfg), "instructions: the generated file"
    else:
        chosen = list(stand_ins)
        planned = min(planned_tasks, cfg.max_examples) if cfg.max_examples else planned_tasks
        note = (
            f"instructions: {planned} planned, prompts of {len(chosen)} tasks on disk as stand-ins"
        )
    requests = float(len(chosen)) if tasks is not None else float(planned)
    counted = chosen[:MAX_RESPONSE_PROMPTS]
    sample = [build_response_request(t, i, role.sampling) for i, t in enumerate(counted)]
    replies = responder_replies(root, llm)
    price = role_price(role, llm.client, _env(env))
    return role_estimate(
        stage="generate_responses", role="responder", model=role.model,
        requests=Span.exactly(requests),
        prompt_tokens_per_request=prompt_token_span(sample, role.model, exact=price is not None),
        replies=replies, max_tokens=role.sampling.max_tokens, price=price, batch=role.batch,
        note=f"{note}; replies: {replies.source}",
    )  # fmt: skip


def estimate_instructions(
    seeds: Sequence[Task],
    cfg: GenerateInstructionsConfig,
    llm: LLMSection,
    *,
    root: Path,
    seed: int = 42,
    env: Mapping[str, str] | None = None,
) -> Estimate:
    """generate_instructions against the ledger (pass it to `announce`)."""
    role = instructions_role(seeds, cfg, llm, root=root, seed=seed, env=env)
    return Estimate([role], read_budget(root, llm.client, [role.stage]), llm.client)


def estimate_responses(
    tasks: Sequence[Task],
    cfg: GenerateResponsesConfig,
    llm: LLMSection,
    *,
    root: Path,
    env: Mapping[str, str] | None = None,
) -> Estimate:
    """generate_responses against the ledger (pass it to `announce`)."""
    role = responses_role(tasks, cfg, llm, root=root, env=env)
    return Estimate([role], read_budget(root, llm.client, [role.stage]), llm.client)
