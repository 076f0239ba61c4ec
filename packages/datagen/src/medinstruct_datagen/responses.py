"""The responder answers each generated instruction: one request per task.

What happens to each answer:

* a normal answer becomes an `Example` with the responder's model and token usage;
* an answer cut off at the token limit is *kept* but marked
  (`truncated=True, finish_reason="length"`), so the curate stage rejects it
  visibly instead of a half answer slipping into the training set;
* a failed request (after the client's retries) yields no example; it is
  counted under `request_failed` and by its failure reason
  (`request_failed.timeout`, ...), both logged to MLflow.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from medinstruct_core.llm.config import Sampling
from medinstruct_core.llm.types import ChatClient, LLMRequest, LLMResult
from medinstruct_core.records import Example, GeneratedTask, Task, Usage
from medinstruct_datagen.config import GenerateResponsesConfig
from medinstruct_datagen.prompting import build_response_messages

DEFAULT_RESPONDER_SAMPLING = Sampling(temperature=0.7, top_p=1.0, max_tokens=384)


@dataclass
class ResponseResult:
    """Examples in task order, plus counts of what went wrong."""

    examples: list[Example] = field(default_factory=list)
    rejects: Counter[str] = field(default_factory=Counter)
    requested: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)  # id, failure, error per failed item

    @property
    def truncated(self) -> int:
        return sum(1 for example in self.examples if example.truncated)

    def metrics(self) -> dict[str, float]:
        written = len(self.examples)
        out: dict[str, float] = {
            "instructions": self.requested,
            "examples": written,
            "truncated": self.truncated,
            "request_failed": self.rejects.get("request_failed", 0),
            "empty_output": sum(1 for e in self.examples if not e.output.strip()),
            "yield": (written - self.truncated) / self.requested if self.requested else 0.0,
            "prompt_tokens": sum(e.usage.prompt_tokens for e in self.examples),
            "completion_tokens": sum(e.usage.completion_tokens for e in self.examples),
        }
        out.update({f"rejects.{k}": v for k, v in self.rejects.items() if k != "request_failed"})
        return out


def task_id(task: Task, index: int) -> str:
    """A generated task keeps its id (`gi-000001`); any other task gets a positional one."""
    return task.id if isinstance(task, GeneratedTask) else f"ex-{index + 1:06d}"


def build_response_request(task: Task, index: int, sampling: Sampling) -> LLMRequest:
    return LLMRequest(
        messages=tuple(build_response_messages(task)),
        sampling=sampling,
        key=task_id(task, index),
    )


def to_example(task: Task, index: int, result: LLMResult, default_model: str) -> Example:
    """One answered task; `truncated` follows the finish reason, never silently dropped."""
    return Example(
        **{name: getattr(task, name) for name in Task.model_fields},
        id=task_id(task, index),
        output=(result.text or "").strip(),
        instruction_model=task.source_model if isinstance(task, GeneratedTask) else "",
        response_model=result.model or default_model,
        finish_reason=result.finish_reason,
        truncated=result.truncated,
        usage=Usage(prompt_tokens=result.prompt_tokens, completion_tokens=result.completion_tokens),
    )


def select_tasks(tasks: Sequence[Task], cfg: GenerateResponsesConfig) -> list[Task]:
    """The first `max_examples` tasks (all when 0): a prefix, so a larger run reuses the cache."""
    return list(tasks[: cfg.max_examples] if cfg.max_examples else tasks)


def generate_responses(
    tasks: Sequence[Task],
    client: ChatClient,
    cfg: GenerateResponsesConfig,
    sampling: Sampling | None = None,
    progress: bool = True,
) -> ResponseResult:
    """Answer every selected task with the responder role (`llm.responder.sampling`)."""
    chosen = select_tasks(tasks, cfg)
    sampling = sampling or DEFAULT_RESPONDER_SAMPLING
    requests = [build_response_request(task, i, sampling) for i, task in enumerate(chosen)]
    results = client.run(requests, desc="responses", progress=progress)
    out = ResponseResult(requested=len(chosen))
    for index, (task, result) in enumerate(zip(chosen, results, strict=True)):
        if not result.ok:
            out.rejects["request_failed"] += 1
            out.rejects[f"request_failed.{result.failure or 'unknown'}"] += 1
            failure = {"id": task_id(task, index), "failure": str(result.failure or "unknown")}
            out.failed.append({**failure, "error": (result.error or "")[:500]})
            continue
        out.examples.append(to_example(task, index, result, client.endpoint.model))
    return out
