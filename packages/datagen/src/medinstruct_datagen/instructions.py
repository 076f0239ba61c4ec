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

Planned mode (a teacher in Batch API mode, `llm.teacher.batch: true`): every
round would be a batch that waits up to 24 h, so 52k tasks in rounds of a few
requests would wait for ~80 batches one after another. When no prompt shows
generated tasks (`machine_tasks_per_prompt: 0`, AlpaCare's setting) no request
depends on a reply, so the requests are planned up front instead: a pilot of
`batch_pilot_requests` (a cache hit on a rerun) measures the keep yield, then
one planned send asks for what `num_tasks` needs at that yield plus
`batch_margin`, and a shortfall is topped up the same way (the yield of the last
send, at least one more round; nothing kept: as many again). Each send is one
`client.run` (one batch, split only where OpenAI's per-file limits demand).
The replies are then filtered round by round in request order, exactly as the
sequential loop filters them, so the same replies keep the same tasks; replies
planned beyond the round that reaches `num_tasks` are paid, cached and unused
(`unused_replies`). `max_requests` caps what is sent in either mode.

Every task or reply that does not make it is counted by reason:
`request_failed` and `parse_error` count replies; `schema_violation`,
`truncated`, each rule reason (`too_short`, `blacklisted`, ...) and
`duplicate` count tasks. Tasks that survive after `num_tasks`
is reached are counted as `surplus` (not a reject: nothing was wrong with them).
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from medinstruct_core.llm.batch import uses_batch_api
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
    planned: bool = False  # requests planned up front for the Batch API (see module doc)
    sends: int = 0  # client.run calls: rounds when sequential, pilot + plans when planned
    sent_requests: int = 0  # requests sent (or answered from the cache), >= requests

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
            "planned": float(self.planned),
            "sends": self.sends,
            "requests_sent": self.sent_requests,
            "unused_replies": self.sent_requests - self.requests,
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


@dataclass
class _Loop:
    """What every round needs: the inputs, the filters and the one growing ROUGE-L index."""

    seeds: Sequence[Task]
    client: ChatClient
    cfg: GenerateInstructionsConfig
    rng_seed: int
    sampling: Sampling
    rules: FilterConfig
    progress: bool
    on_round: Callable[[int, dict[str, float]], None] | None
    dedup: RougeLIndex = field(init=False)

    def __post_init__(self) -> None:
        self.dedup = RougeLIndex(self.cfg.rouge_threshold)
        self.dedup.extend(seed.instruction for seed in self.seeds)

    @property
    def structured(self) -> bool:
        return self.client.response_mode != "off"

    def send(
        self, start: int, stop: int, kept: Sequence[Task], out: GenerationResult
    ) -> list[LLMResult]:
        """Requests start..stop-1 in one client.run (one batch in Batch API mode)."""
        mode = self.client.response_mode
        requests = [build_request(i, self.seeds, kept, self.cfg, self.rng_seed, mode, self.sampling)
                    for i in range(start, stop)]  # fmt: skip
        set_postfix = getattr(self.client, "set_postfix", None)
        if set_postfix is not None:  # the kept count on the progress bar
            set_postfix(kept=f"{len(out.tasks)}/{self.cfg.num_tasks}")
        what = "plan" if out.planned else "round"
        results = self.client.run(
            requests, desc=f"instructions {what} {out.sends + 1}", progress=self.progress
        )
        out.sends, out.sent_requests = out.sends + 1, out.sent_requests + len(requests)
        return results

    def take_round(self, results: Sequence[LLMResult], out: GenerationResult) -> bool:
        """Rules, then ROUGE-L, over one round's replies in request order. True when the
        budget ran out in this round (the caller stops after it, as the cap intends)."""
        out.requests, out.rounds = out.requests + len(results), out.rounds + 1
        out.requested_tasks += len(results) * self.cfg.tasks_per_request
        candidates = _passing_rules(_collect(results, self.structured, out), self.rules, out)
        _keep(candidates, self.dedup, self.cfg, self.client.endpoint.model, out)
        if self.on_round is not None:
            self.on_round(out.rounds, out.metrics())
        return any(r.failure == "budget_exhausted" for r in results)


def plans_batches(client: ChatClient, cfg: GenerateInstructionsConfig) -> bool:
    """Planned mode: a Batch API teacher whose requests do not depend on generated tasks."""
    return cfg.batch_plan and cfg.machine_tasks_per_prompt == 0 and uses_batch_api(client)


def generate_instructions(
    seeds: Sequence[Task],
    client: ChatClient,
    cfg: GenerateInstructionsConfig,
    rng_seed: int,
    sampling: Sampling | None = None,
    progress: bool = True,
    on_round: Callable[[int, dict[str, float]], None] | None = None,
    rules: FilterConfig | None = None,
    planned: bool | None = None,
) -> GenerationResult:
    """Generate up to `cfg.num_tasks` new tasks from `seeds` that pass the rules and dedup.

    `rules` is the curate stage's filter config (`curate.filters` in params.yaml),
    so generation and curation judge a task the same way; None means its defaults.

    `on_round(round, metrics)` is called after every round (the stage logs them as
    MLflow step metrics, so a long run's yield and rejects can be watched live).

    `sampling` is the teacher role's (`llm.teacher.sampling`); the paper's
    values are the default. Structured output (JSON schema) is used unless the
    client's response mode is "off".

    `planned`: plan the requests up front (see the module doc); None decides by
    `plans_batches` (a Batch API teacher, `batch_plan`, no generated tasks in prompts).
    """
    if not seeds:
        raise ValueError("generate_instructions needs at least one seed task")
    planned = plans_batches(client, cfg) if planned is None else planned
    if planned and cfg.machine_tasks_per_prompt:
        raise ValueError(
            "generate_instructions.machine_tasks_per_prompt > 0: each round's prompts show "
            "tasks kept in earlier rounds, so requests cannot be planned up front"
        )
    structured = client.response_mode != "off"
    loop = _Loop(seeds, client, cfg, rng_seed, sampling or DEFAULT_TEACHER_SAMPLING,
                 rules or FilterConfig(), progress, on_round)  # fmt: skip
    out = GenerationResult(mode="structured" if structured else "text", planned=planned)
    out.stop_reason = _planned(loop, out) if planned else _sequential(loop, out)
    return out


def _sequential(loop: _Loop, out: GenerationResult) -> str:
    """One client.run per round: each round's prompts may show the tasks kept so far."""
    cfg = loop.cfg
    while len(out.tasks) < cfg.num_tasks and out.requests < cfg.max_requests:
        stop = min(out.requests + cfg.requests_per_round, cfg.max_requests)
        results = loop.send(out.requests, stop, list(out.tasks), out)  # kept: frozen per round
        if loop.take_round(results, out):
            return "budget_exhausted"
    return _stop_reason(out, cfg)


def _planned(loop: _Loop, out: GenerationResult) -> str:
    """A pilot, then planned sends until `num_tasks`; replies filtered in sequential rounds."""
    cfg = loop.cfg
    replies: list[LLMResult] = []
    want = cfg.batch_pilot_requests
    while True:
        target = _round_boundary(want, cfg)
        if target > len(replies):
            replies += loop.send(len(replies), target, [], out)
        first, kept_before = out.requests, len(out.tasks)
        while out.requests < len(replies) and len(out.tasks) < cfg.num_tasks:
            stop = min(out.requests + cfg.requests_per_round, cfg.max_requests)
            if loop.take_round(replies[out.requests : stop], out):
                return "budget_exhausted"
        if len(out.tasks) >= cfg.num_tasks or out.requests >= cfg.max_requests:
            return _stop_reason(out, cfg)
        gained, short = len(out.tasks) - kept_before, cfg.num_tasks - len(out.tasks)
        # Nothing kept says nothing about the need: send as many again (doubling reaches
        # any need in log2 sends; max_requests still caps the total).
        more = (
            planned_requests(cfg, short, out.requests - first, gained) if gained else len(replies)
        )
        want = len(replies) + more


def planned_requests(
    cfg: GenerateInstructionsConfig, short: int, measured_requests: int, measured_kept: int
) -> int:
    """How many more requests `short` more tasks need, at the keep yield measured over
    the last `measured_requests` (which kept `measured_kept` > 0), plus `batch_margin`.

    The last send's yield, not the whole run's: duplicates grow with the kept pool, so
    the most recent replies predict the next ones best.
    """
    per_request = measured_kept / measured_requests
    return max(1, math.ceil(short / per_request * (1.0 + cfg.batch_margin)))


def _round_boundary(requests: int, cfg: GenerateInstructionsConfig) -> int:
    """`requests` rounded up to whole rounds, capped at `max_requests` (as rounds are)."""
    rounds = math.ceil(requests / cfg.requests_per_round)
    return min(rounds * cfg.requests_per_round, cfg.max_requests)


def _stop_reason(out: GenerationResult, cfg: GenerateInstructionsConfig) -> str:
    return "num_tasks" if len(out.tasks) >= cfg.num_tasks else "max_requests"
