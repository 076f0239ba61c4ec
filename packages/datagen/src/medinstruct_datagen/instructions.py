"""Self-Instruct task generation: the teacher writes new tasks from sampled seeds.

The loop runs in rounds of `requests_per_round` requests. After each round the
new tasks go through Self-Instruct's filters in Self-Instruct's order: first
the rule filters the curate stage uses (`medinstruct_text.rules.check_task_rules`,
the very same function, with the same `curate.filters` config), then the
ROUGE-L rule (against the seeds and every task kept so far). Only tasks that
pass both enter the pool and count toward `num_tasks`; generation stops once
`num_tasks` tasks survive or `max_requests` requests have been sent.

Kept tasks carry canonical `type`/`view` labels and a cleaned `topic`
(`medinstruct_text.taxonomy`); an unknown label is stored as `other: <original>`.

Resumability ("never pay twice"): request `i` is a pure function of the run
seed, `i` and the kept set at the start of its round. Its examples come from
`random.Random(f"{seed}:{i}")` and it carries `sample_index=i`, so after a
crash a re-run rebuilds byte-identical requests and the client's cache answers
them; only the round that was in flight costs anything again.

Every task or reply that does not make it is counted by reason:
`request_failed` and `parse_error` count replies; `schema_violation`,
`truncated`, each rule reason (`too_short`, `blacklisted`, ...) and
`duplicate` count tasks. Tasks that survive after `num_tasks`
is reached are counted as `surplus` (not a reject: nothing was wrong with them).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from medinstruct_core.llm.config import Sampling
from medinstruct_core.llm.types import ChatClient, LLMRequest, LLMResult
from medinstruct_core.records import GeneratedTask, Task
from medinstruct_datagen.config import GenerateInstructionsConfig
from medinstruct_datagen.parsing import (
    ParseResult,
    parse_structured_tasks,
    parse_task_list_detailed,
)
from medinstruct_datagen.prompting import build_instruction_messages
from medinstruct_datagen.schema import SCHEMA_NAME, task_list_schema
from medinstruct_text.rouge import RougeLIndex
from medinstruct_text.rules import TASK_RULE_REASONS, FilterConfig, check_task_rules
from medinstruct_text.taxonomy import OTHER, clean_topic, stored_label

# The paper's teacher sampling: AlpaCare/Self-Instruct use T=1, top_p=1 and a
# presence penalty of 1.5 to push the teacher away from repeating itself.
DEFAULT_TEACHER_SAMPLING = Sampling(
    temperature=1.0, top_p=1.0, presence_penalty=1.5, max_tokens=3072
)
INSTRUCTION_REJECTS = (
    "request_failed",
    "parse_error",
    "schema_violation",
    "truncated",
    *TASK_RULE_REASONS,
    "duplicate",
)


@dataclass
class GenerationResult:
    """Kept tasks plus the bookkeeping logged to MLflow and the metrics file."""

    tasks: list[GeneratedTask] = field(default_factory=list)
    rejects: Counter[str] = field(default_factory=Counter)
    mode: str = "text"
    requests: int = 0
    rounds: int = 0
    requested_tasks: int = 0
    parsed_tasks: int = 0
    surplus: int = 0
    structured_fallbacks: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    stop_reason: str = ""

    def metrics(self) -> dict[str, float]:
        """Flat numbers: yields are relative to the tasks asked for (requests x n)."""
        asked = max(self.requested_tasks, 1)
        out: dict[str, float] = {
            "tasks_kept": len(self.tasks),
            "requests": self.requests,
            "rounds": self.rounds,
            "tasks_requested": self.requested_tasks,
            "tasks_parsed": self.parsed_tasks,
            "parse_yield": self.parsed_tasks / asked,
            "keep_yield": len(self.tasks) / asked,
            "surplus": self.surplus,
            "structured_fallbacks": self.structured_fallbacks,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
        }
        out.update({f"rejects.{r}": self.rejects.get(r, 0) for r in INSTRUCTION_REJECTS})
        return out


def sample_examples(
    seeds: Sequence[Task], kept: Sequence[Task], cfg: GenerateInstructionsConfig, rng: random.Random
) -> list[Task]:
    """Seeds (and, optionally, generated tasks) shown in one prompt, in shuffled order."""
    examples = rng.sample(list(seeds), min(cfg.seed_tasks_per_prompt, len(seeds)))
    if cfg.machine_tasks_per_prompt and kept:
        examples += rng.sample(list(kept), min(cfg.machine_tasks_per_prompt, len(kept)))
        rng.shuffle(examples)
    return examples


def build_request(
    index: int,
    seeds: Sequence[Task],
    kept: Sequence[Task],
    cfg: GenerateInstructionsConfig,
    rng_seed: int,
    mode: str,
    sampling: Sampling,
) -> LLMRequest:
    """Request `index`: a pure function of (rng_seed, index, kept) so a re-run hits the cache.

    `mode` is the client's response mode: "off" asks for the text format, anything
    else for JSON with the task-list schema attached.
    """
    rng = random.Random(f"{rng_seed}:{index}")
    examples = sample_examples(seeds, kept, cfg, rng)
    structured = mode != "off"
    messages = build_instruction_messages(examples, cfg.tasks_per_request, structured)
    schema = task_list_schema(cfg.tasks_per_request, nonempty=mode == "json_object")
    return LLMRequest(
        messages=tuple(messages),
        sampling=sampling,
        key=f"gi-req-{index:06d}",
        json_schema=schema if structured else None,
        schema_name=SCHEMA_NAME,
        sample_index=index,
    )


def parse_reply(result: LLMResult, structured: bool) -> ParseResult:
    """Parse one reply; a structured reply that is not JSON at all gets the text parser."""
    text = result.text or ""
    if not structured:
        return parse_task_list_detailed(text, truncated=result.truncated)
    parsed = parse_structured_tasks(text, truncated=result.truncated)
    if parsed.failed:
        fallback = parse_task_list_detailed(text, truncated=result.truncated)
        if fallback.tasks:
            fallback.format = "text_fallback"
            return fallback
    return parsed


def _collect(
    results: Sequence[LLMResult], structured: bool, out: GenerationResult
) -> list[tuple[Task, LLMResult]]:
    """Parse a round's replies in request order; count failures and rejects."""
    candidates: list[tuple[Task, LLMResult]] = []
    for result in results:
        out.prompt_tokens += result.prompt_tokens
        out.completion_tokens += result.completion_tokens
        if not result.ok:
            out.rejects["request_failed"] += 1
            continue
        parsed = parse_reply(result, structured)
        out.structured_fallbacks += parsed.format == "text_fallback"
        out.rejects.update(parsed.rejects)
        out.parsed_tasks += len(parsed.tasks)
        candidates.extend((task, result) for task in parsed.tasks)
    return candidates


def _passing_rules(
    candidates: list[tuple[Task, LLMResult]], rules: FilterConfig, out: GenerationResult
) -> list[tuple[Task, LLMResult]]:
    """The candidates that pass the curate stage's task rules; rejects counted by reason."""
    passed = []
    for task, result in candidates:
        hit = check_task_rules(task, rules)
        if hit is None:
            passed.append((task, result))
        else:
            out.rejects[hit.reason] += 1
    return passed


def canonical_fields(task: Task) -> dict[str, Any]:
    """The task's fields with canonical type/view and a clean topic ("other" if nothing is left)."""
    fields = task.model_dump()
    fields["type"] = stored_label(task.type, "type")
    fields["view"] = stored_label(task.view, "view")
    fields["topic"] = clean_topic(task.topic) or OTHER
    return fields


def _keep(
    candidates: list[tuple[Task, LLMResult]],
    dedup: RougeLIndex,
    cfg: GenerateInstructionsConfig,
    default_model: str,
    out: GenerationResult,
) -> None:
    """Apply ROUGE-L dedup against `dedup` (seeds + kept) and append the survivors.

    The index is updated in place, so a round costs O(its candidates), not
    O(pool).  Surplus survivors enter it too; they only occur in the last round.
    """
    survivors = dedup.filter([t.instruction for t, _ in candidates])
    if len(survivors) < len(candidates):
        out.rejects["duplicate"] += len(candidates) - len(survivors)
    for index in survivors:
        if len(out.tasks) >= cfg.num_tasks:
            out.surplus += 1
            continue
        task, result = candidates[index]
        out.tasks.append(
            GeneratedTask(
                **canonical_fields(task),
                id=f"gi-{len(out.tasks) + 1:06d}",
                source_model=result.model or default_model,
                request_id=result.request.key,
            )
        )


def generate_instructions(
    seeds: Sequence[Task],
    client: ChatClient,
    cfg: GenerateInstructionsConfig,
    rng_seed: int,
    sampling: Sampling | None = None,
    progress: bool = True,
    on_round: Callable[[int, dict[str, float]], None] | None = None,
    rules: FilterConfig | None = None,
) -> GenerationResult:
    """Generate up to `cfg.num_tasks` new tasks from `seeds` that pass the rules and dedup.

    `rules` is the curate stage's filter config (`curate.filters` in params.yaml),
    so generation and curation judge a task the same way; None means its defaults.

    `on_round(round, metrics)` is called after every round (the stage logs them as
    MLflow step metrics, so a long run's yield and rejects can be watched live).

    `sampling` is the teacher role's (`llm.teacher.sampling`); the paper's
    values are the default. Structured output (JSON schema) is used unless the
    client's response mode is "off".
    """
    if not seeds:
        raise ValueError("generate_instructions needs at least one seed task")
    structured = client.response_mode != "off"
    sampling = sampling or DEFAULT_TEACHER_SAMPLING
    rules = rules or FilterConfig()
    out = GenerationResult(mode="structured" if structured else "text")
    dedup = RougeLIndex(cfg.rouge_threshold)
    dedup.extend(seed.instruction for seed in seeds)
    while len(out.tasks) < cfg.num_tasks and out.requests < cfg.max_requests:
        stop = min(out.requests + cfg.requests_per_round, cfg.max_requests)
        kept = list(out.tasks)  # frozen for the whole round: requests depend on it
        requests = [
            build_request(i, seeds, kept, cfg, rng_seed, client.response_mode, sampling)
            for i in range(out.requests, stop)
        ]
        set_postfix = getattr(client, "set_postfix", None)
        if set_postfix is not None:  # the kept count on the progress bar
            set_postfix(kept=f"{len(out.tasks)}/{cfg.num_tasks}")
        results = client.run(
            requests, desc=f"instructions round {out.rounds + 1}", progress=progress
        )
        out.requests, out.rounds = stop, out.rounds + 1
        out.requested_tasks += len(requests) * cfg.tasks_per_request
        candidates = _passing_rules(_collect(results, structured, out), rules, out)
        _keep(candidates, dedup, cfg, client.endpoint.model, out)
        if on_round is not None:
            on_round(out.rounds, out.metrics())
        if any(r.failure == "budget_exhausted" for r in results):
            out.stop_reason = "budget_exhausted"
            return out
    out.stop_reason = "num_tasks" if len(out.tasks) >= cfg.num_tasks else "max_requests"
    return out
