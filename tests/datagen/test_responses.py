"""Response generation against a scripted fake client: provenance, truncation, failures."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from medinstruct_core.llm.config import Sampling
from medinstruct_core.llm.types import Endpoint, LLMRequest, LLMResult
from medinstruct_core.records import Example, GeneratedTask, Task, Usage
from medinstruct_datagen.config import GenerateResponsesConfig
from medinstruct_datagen.plots import plot_output_lengths
from medinstruct_datagen.prompting import build_response_messages
from medinstruct_datagen.responses import DEFAULT_RESPONDER_SAMPLING, generate_responses


def generated(i: int, input_: str = "") -> GeneratedTask:
    return GeneratedTask(
        type="QA", topic="Cardiology", view="Patient", difficulty=2,
        instruction=f"Question number {i}?", input=input_,
        id=f"gi-{i:06d}", source_model="teacher-model", request_id="gi-req-000000",
    )  # fmt: skip


class FakeResponder:
    """Answers by request key: 'fail' keys fail, 'cut' keys hit the token limit."""

    def __init__(self, fail: set[str] = frozenset(), cut: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.endpoint = Endpoint("http://fake/v1", "responder-model", "remote", "off")
        self.response_mode = "off"
        self.fail, self.cut = fail, cut
        self.calls: list[list[LLMRequest]] = []

    def run(self, requests: Sequence[LLMRequest], **_: Any) -> list[LLMResult]:
        self.calls.append(list(requests))
        return [self._answer(r) for r in requests]

    def _answer(self, r: LLMRequest) -> LLMResult:
        if r.key in self.fail:
            return LLMResult(r, None, "error", error="HTTP 500", failure="http_error")
        finish = "length" if r.key in self.cut else "stop"
        return LLMResult(
            r, f"  Answer to {r.key}  ", finish, prompt_tokens=30, completion_tokens=12
        )


def test_every_task_becomes_an_example_with_provenance_and_usage() -> None:
    tasks = [generated(1), generated(2, input_="BP 150/95 on three visits.")]
    client = FakeResponder()
    result = generate_responses(tasks, client, GenerateResponsesConfig())
    assert result.rejects == Counter()
    assert result.examples[1] == Example(
        type="QA", topic="Cardiology", view="Patient", difficulty=2,
        instruction="Question number 2?", input="BP 150/95 on three visits.",
        id="gi-000002", output="Answer to gi-000002", instruction_model="teacher-model",
        response_model="responder-model", finish_reason="stop", truncated=False,
        usage=Usage(prompt_tokens=30, completion_tokens=12),
    )  # fmt: skip
    request = client.calls[0][1]
    assert request.messages == tuple(build_response_messages(tasks[1]))
    assert request.sampling == DEFAULT_RESPONDER_SAMPLING
    assert request.json_schema is None


def test_truncated_outputs_are_kept_and_marked() -> None:
    tasks = [generated(i) for i in range(1, 4)]
    result = generate_responses(tasks, FakeResponder(cut={"gi-000002"}), GenerateResponsesConfig())
    assert [(e.id, e.truncated, e.finish_reason) for e in result.examples] == [
        ("gi-000001", False, "stop"),
        ("gi-000002", True, "length"),
        ("gi-000003", False, "stop"),
    ]
    metrics = result.metrics()
    assert (metrics["examples"], metrics["truncated"], metrics["yield"]) == (3, 1, 2 / 3)


def test_failed_requests_are_counted_and_omitted() -> None:
    tasks = [generated(i) for i in range(1, 5)]
    client = FakeResponder(fail={"gi-000001", "gi-000004"})
    result = generate_responses(tasks, client, GenerateResponsesConfig())
    assert [e.id for e in result.examples] == ["gi-000002", "gi-000003"]
    assert result.rejects == Counter({"request_failed": 2, "request_failed.http_error": 2})
    assert result.failed == [
        {"id": "gi-000001", "failure": "http_error", "error": "HTTP 500"},
        {"id": "gi-000004", "failure": "http_error", "error": "HTTP 500"},
    ]
    metrics = result.metrics()
    assert metrics["request_failed"] == 2 and metrics["rejects.request_failed.http_error"] == 2
    assert (metrics["prompt_tokens"], metrics["completion_tokens"]) == (60, 24)


def test_max_examples_takes_a_prefix_and_sampling_comes_from_the_role() -> None:
    tasks = [generated(i) for i in range(1, 6)]
    client = FakeResponder()
    sampling = Sampling(temperature=0.0, max_tokens=64)
    result = generate_responses(
        tasks, client, GenerateResponsesConfig(max_examples=2), sampling=sampling
    )
    assert [e.id for e in result.examples] == ["gi-000001", "gi-000002"]
    assert [r.sampling for r in client.calls[0]] == [sampling, sampling]
    assert result.requested == 2


def test_plain_tasks_get_positional_ids_and_no_instruction_model() -> None:
    seed = Task(
        type="QA", topic="ENT", view="Patient", difficulty=1, instruction="Why do ears pop?"
    )
    result = generate_responses([seed], FakeResponder(), GenerateResponsesConfig())
    assert (result.examples[0].id, result.examples[0].instruction_model) == ("ex-000001", "")


def test_output_length_plot_is_written_even_for_no_examples(tmp_path: Path) -> None:
    assert plot_output_lengths([], tmp_path / "empty").name == "output_words.png"
    examples = generate_responses(
        [generated(1), generated(2)], FakeResponder(cut={"gi-000002"}), GenerateResponsesConfig()
    ).examples
    path = plot_output_lengths(examples, tmp_path / "plots")
    assert path.read_bytes().startswith(b"\x89PNG")
