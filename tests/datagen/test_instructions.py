"""The generation loop against a scripted fake client: stopping, dedup, determinism, rejects."""

from __future__ import annotations

import importlib.util
import itertools
import json
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from medinstruct_core.io import read_jsonl, write_jsonl
from medinstruct_core.llm.cache import ReplyStore
from medinstruct_core.llm.config import ClientConfig, LLMSection, RoleConfig, Sampling
from medinstruct_core.llm.roles import open_role
from medinstruct_core.llm.types import Endpoint, LLMRequest, LLMResult
from medinstruct_core.records import Example, GeneratedTask, Task
from medinstruct_datagen.config import GenerateInstructionsConfig
from medinstruct_datagen.instructions import (
    DEFAULT_TEACHER_SAMPLING,
    generate_instructions,
    parse_reply,
)
from medinstruct_datagen.plots import distributions
from medinstruct_datagen.prompting import format_task_text
from medinstruct_datagen.seeds import load_seed_tasks
from medinstruct_text.rules import FilterConfig

SEEDS = [
    Task(type="QA", topic="Cardiology", view="Patient", difficulty=1,
         instruction="What is a normal resting heart rate for adults?"),
    Task(type="Summary", topic="Oncology", view="Physician", difficulty=4,
         instruction="Summarize the staging of this breast tumour.", input="T2 N1 M0, ER positive."),
    Task(type="Rewrite", topic="Pediatrics", view="Parent", difficulty=2,
         instruction="Explain croup to worried parents in plain words."),
    Task(type="Extraction", topic="Nephrology", view="Nurse", difficulty=3,
         instruction="List the electrolytes that are out of range.", input="Na 128, K 6.1, Cl 99."),
]  # fmt: skip

Script = Callable[[LLMRequest], tuple[str | None, str]]


def unique_task(request: int, item: int) -> Task:
    """A task whose instruction shares no content word with any other (ROUGE-L well below 0.7)."""
    words = " ".join(f"{w}{request}x{item}" for w in ("alpha", "beta", "gamma", "delta", "eps"))
    return Task(
        type="QA", topic="Topic", view="Nurse", difficulty=2, instruction=f"Explain {words}."
    )


def text_reply(tasks: Sequence[Task]) -> str:
    return "\n".join(f"###\n{format_task_text(t, i + 4)}" for i, t in enumerate(tasks))


def json_reply(tasks: Sequence[Task]) -> str:
    return json.dumps({"tasks": [t.model_dump() for t in tasks]})


class FakeClient:
    """Just what generate_instructions needs: endpoint, response_mode, run()."""

    def __init__(self, script: Script, mode: str = "off", model: str = "fake-teacher") -> None:
        self.endpoint = Endpoint("http://fake/v1", model, "remote", mode)  # type: ignore[arg-type]
        self.script = script
        self.calls: list[list[LLMRequest]] = []

    @property
    def response_mode(self) -> str:
        return self.endpoint.response_mode

    def run(self, requests: Sequence[LLMRequest], **_: Any) -> list[LLMResult]:
        self.calls.append(list(requests))
        return [self._answer(r) for r in requests]

    def _answer(self, request: LLMRequest) -> LLMResult:
        text, finish = self.script(request)
        if text is None:
            return LLMResult(request, None, "error", error="boom", failure=finish)  # type: ignore[arg-type]
        return LLMResult(
            request, text, finish, prompt_tokens=100, completion_tokens=50, model="teacher-v1"
        )

    @property
    def requests(self) -> list[LLMRequest]:
        return [r for call in self.calls for r in call]


def fresh_tasks(n: int) -> Script:
    """Every request answers with n new, mutually distinct tasks."""
    return lambda r: (text_reply([unique_task(r.sample_index, j) for j in range(n)]), "stop")


def config(**overrides: Any) -> GenerateInstructionsConfig:
    base = dict(num_tasks=10, seed_tasks_per_prompt=2, tasks_per_request=4, rouge_threshold=0.7,
                max_requests=20, requests_per_round=2)  # fmt: skip
    return GenerateInstructionsConfig(**{**base, **overrides})


def test_stops_once_num_tasks_survive() -> None:
    client = FakeClient(fresh_tasks(4))
    result = generate_instructions(SEEDS, client, config(), rng_seed=7)
    assert (len(result.tasks), result.requests, result.rounds, result.surplus) == (10, 4, 2, 6)
    assert result.stop_reason == "num_tasks"
    assert [t.id for t in result.tasks][:2] == ["gi-000001", "gi-000002"]
    assert result.tasks[-1].id == "gi-000010"
    assert {t.source_model for t in result.tasks} == {"teacher-v1"}
    assert [t.request_id for t in result.tasks[:5]] == ["gi-req-000000"] * 4 + ["gi-req-000001"]
    assert result.metrics()["parse_yield"] == 1.0
    assert (result.prompt_tokens, result.completion_tokens) == (400, 200)


def test_stops_at_max_requests_when_too_little_survives() -> None:
    client = FakeClient(lambda r: ("Sorry, I cannot do that.", "stop"))
    result = generate_instructions(SEEDS, client, config(max_requests=5), rng_seed=7)
    assert (result.tasks, result.requests, result.rounds) == ([], 5, 3)
    assert [len(call) for call in client.calls] == [2, 2, 1]
    assert result.rejects == Counter({"parse_error": 5})
    assert result.stop_reason == "max_requests"


def test_dedup_is_against_seeds_and_everything_kept() -> None:
    def script(r: LLMRequest) -> tuple[str, str]:
        if r.sample_index == 0:  # a seed copy, two fresh tasks, then one of them again
            tasks = [SEEDS[0], unique_task(0, 0), unique_task(0, 1), unique_task(0, 1)]
        elif r.sample_index == 1:  # same round: repeats a task request 0 just produced
            tasks = [unique_task(0, 0), unique_task(1, 0), unique_task(1, 1), unique_task(1, 2)]
        else:  # a later round: repeats tasks kept in round 1, plus fresh ones
            tasks = [
                unique_task(1, 2),
                unique_task(r.sample_index, 0),
                unique_task(r.sample_index, 1),
            ]
        return text_reply(tasks), "stop"

    result = generate_instructions(SEEDS, FakeClient(script), config(num_tasks=7), rng_seed=7)
    # seed copy + repeat within reply 0 + reply 1 repeating reply 0 + replies 2 and 3 repeating round 1
    assert result.rejects == Counter({"duplicate": 5})
    assert result.surplus == 2
    instructions = [t.instruction for t in result.tasks]
    assert len(instructions) == len(set(instructions)) == 7
    assert SEEDS[0].instruction not in instructions
    assert result.requests == 4


def test_requests_are_deterministic_across_runs() -> None:
    cfg = config(num_tasks=12, machine_tasks_per_prompt=1)
    first, second, other = (
        FakeClient(fresh_tasks(4)),
        FakeClient(fresh_tasks(4)),
        FakeClient(fresh_tasks(4)),
    )
    generate_instructions(SEEDS, first, cfg, rng_seed=7)
    generate_instructions(SEEDS, second, cfg, rng_seed=7)
    generate_instructions(SEEDS, other, cfg, rng_seed=8)
    assert len(first.requests) == 4
    assert first.requests == second.requests
    assert [r.sample_index for r in first.requests] == [0, 1, 2, 3]
    assert [r.messages for r in first.requests] != [r.messages for r in other.requests]
    # Round 2 shows a task generated in round 1, round 1 cannot.
    assert "alpha" not in first.requests[0].messages[1]["content"]
    assert "alpha0x" in first.requests[2].messages[1]["content"] or (
        "alpha1x" in first.requests[2].messages[1]["content"]
    )


def test_request_prompt_depends_only_on_seed_and_index() -> None:
    """A smaller run's requests are a prefix of a larger run's: resuming reuses the cache."""
    small, large = FakeClient(fresh_tasks(4)), FakeClient(fresh_tasks(4))
    generate_instructions(SEEDS, small, config(num_tasks=4), rng_seed=3)
    generate_instructions(SEEDS, large, config(num_tasks=16), rng_seed=3)
    assert large.requests[: len(small.requests)] == small.requests


def test_every_reject_reason_is_counted() -> None:
    def script(r: LLMRequest) -> tuple[str | None, str]:
        i = r.sample_index
        if i == 0:
            return text_reply([unique_task(0, j) for j in range(4)]), "stop"
        if i == 1:
            return None, "timeout"
        if i == 2:
            return "I cannot write medical tasks.", "stop"
        if i == 3:
            reply = text_reply([unique_task(3, 0), unique_task(3, 1)])
            return reply.replace("Difficulty: 2", "Difficulty: 9", 1), "stop"
        # Hit the token limit: three complete-looking items; the last one is dropped.
        return text_reply([unique_task(i, j) for j in range(3)]), "length"

    cfg = config(num_tasks=9, max_requests=5, requests_per_round=5)
    result = generate_instructions(SEEDS, FakeClient(script), cfg, rng_seed=1)
    assert result.rejects == Counter(
        {"request_failed": 1, "parse_error": 1, "schema_violation": 1, "truncated": 1}
    )
    assert len(result.tasks) == 4 + 1 + 2
    assert result.parsed_tasks == 7
    metrics = result.metrics()
    assert metrics["rejects.duplicate"] == 0 and metrics["rejects.truncated"] == 1
    assert metrics["parse_yield"] == 7 / 20


def test_structured_mode_sends_the_schema_and_falls_back_to_text() -> None:
    def script(r: LLMRequest) -> tuple[str, str]:
        tasks = [unique_task(r.sample_index, j) for j in range(3)]
        return (json_reply(tasks) if r.sample_index == 0 else text_reply(tasks)), "stop"

    client = FakeClient(script, mode="json_object")
    result = generate_instructions(SEEDS, client, config(num_tasks=6), rng_seed=1)
    assert result.mode == "structured"
    assert len(result.tasks) == 6 and result.structured_fallbacks == 1
    request = client.requests[0]
    assert request.json_schema is not None
    items = request.json_schema["properties"]["tasks"]
    assert (items["maxItems"], items["minItems"]) == (4, 1)
    assert items["items"]["properties"]["difficulty"]["enum"] == [1, 2, 3, 4, 5]
    assert items["items"]["properties"]["instruction"]["minLength"] == 1  # llama.cpp enforces it
    assert "minLength" not in items["items"]["properties"]["input"]
    assert '"tasks"' in request.messages[1]["content"]
    # OpenAI-style strict json_schema rejects length keywords: none are sent there.
    openai_style = FakeClient(script, mode="json_schema")
    generate_instructions(SEEDS, openai_style, config(num_tasks=6), rng_seed=1)
    assert "minLength" not in json.dumps(openai_style.requests[0].json_schema)


def test_text_mode_sends_no_schema_and_uses_paper_sampling_by_default() -> None:
    client = FakeClient(fresh_tasks(4))
    generate_instructions(SEEDS, client, config(num_tasks=4), rng_seed=1)
    request = client.requests[0]
    assert request.json_schema is None
    assert request.sampling == DEFAULT_TEACHER_SAMPLING
    assert (request.sampling.temperature, request.sampling.presence_penalty) == (1.0, 1.5)
    custom = Sampling(temperature=0.2, max_tokens=99)
    client = FakeClient(fresh_tasks(4))
    generate_instructions(SEEDS, client, config(num_tasks=4), rng_seed=1, sampling=custom)
    assert client.requests[0].sampling == custom


def test_budget_exhaustion_stops_cleanly_with_what_was_kept() -> None:
    def script(r: LLMRequest) -> tuple[str | None, str]:
        if r.sample_index < 2:
            return text_reply([unique_task(r.sample_index, 0)]), "stop"
        return None, "budget_exhausted"

    client = FakeClient(script)
    result = generate_instructions(SEEDS, client, config(num_tasks=50), rng_seed=1)
    assert (len(result.tasks), result.requests, result.stop_reason) == (2, 4, "budget_exhausted")
    assert result.rejects == Counter({"request_failed": 2})


def test_truncated_structured_reply_keeps_complete_objects() -> None:
    request = LLMRequest(messages=(), sampling=Sampling())
    full = json_reply([unique_task(0, j) for j in range(3)])
    cut = full[: full.rindex('{"type"') + 20]
    parsed = parse_reply(LLMResult(request, cut, "length"), structured=True)
    assert len(parsed.tasks) == 2 and parsed.rejects == Counter({"truncated": 1})


def test_no_seeds_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least one seed"):
        generate_instructions([], FakeClient(fresh_tasks(1)), config(), rng_seed=1)


# ---------------------------------------------------------------------------
# Slow: the stage entry points on a fake OpenAI server, and the real embedded model.

ROOT = Path(__file__).resolve().parents[2]


def load_pipeline(name: str, root: Path) -> ModuleType:
    """Import pipelines/<name>.py with its ROOT pointed at a scratch directory."""
    spec = importlib.util.spec_from_file_location(
        f"pipeline_{name}", ROOT / "pipelines" / f"{name}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.ROOT = root  # type: ignore[attr-defined]
    return module


def scratch_params(tmp_path: Path, teacher_url: str) -> Path:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["llm"]["client"].update(cache_dir=str(tmp_path / "cache"), max_retries=0)
    for role in ("teacher", "responder"):
        params["llm"][role].update(endpoint=teacher_url, model="fake-model")
    params["generate_instructions"].update(
        num_tasks=6, tasks_per_request=4, max_requests=4, requests_per_round=2
    )
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


@pytest.mark.slow
def test_entry_points_end_to_end_on_a_fake_server(
    tmp_path: Path, fake_openai: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    replies = itertools.count()

    def responder(body: dict[str, Any]) -> str:
        if body.get("response_format"):  # the teacher: structured output was asked for
            k = next(replies)
            return json_reply([unique_task(k, j) for j in range(4)])
        return "Rest, fluids and paracetamol; see a doctor if it lasts over three days."

    fake_openai.responder = responder
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("MEDINSTRUCT_REPRO_ID", "test-1-1")
    params = scratch_params(tmp_path, fake_openai.base_url)
    seeds, out = tmp_path / "seeds.jsonl", tmp_path / "instructions.jsonl"
    write_jsonl(seeds, SEEDS)
    metrics, plots = tmp_path / "gi.json", tmp_path / "plots"
    argv = ["--params", str(params), "--seeds", str(seeds), "--out", str(out),
            "--metrics", str(metrics), "--plots-dir", str(plots),
            "--replies", str(tmp_path / "replies" / "gi")]  # fmt: skip
    assert load_pipeline("generate_instructions", tmp_path).main(argv) == 0
    assert len(ReplyStore(tmp_path / "replies" / "gi")) == 2  # the replies travel with the data
    tasks = read_jsonl(out, GeneratedTask)
    assert [t.id for t in tasks] == [f"gi-{i:06d}" for i in range(1, 7)]
    numbers = json.loads(metrics.read_text())
    assert (numbers["tasks_kept"], numbers["requests"], numbers["parse_yield"]) == (6, 2, 1.0)
    assert numbers["mode"] == "structured" and numbers["llm.requests"] == 2
    assert sorted(p.name for p in plots.iterdir()) == [
        "difficulty.png", "distributions.json", "topic.png", "type.png", "view.png",
    ]  # fmt: skip

    examples_path, metrics2 = tmp_path / "examples.jsonl", tmp_path / "gr.json"
    argv = ["--params", str(params), "--instructions", str(out), "--out", str(examples_path),
            "--metrics", str(metrics2), "--replies", str(tmp_path / "replies" / "gr")]  # fmt: skip
    assert load_pipeline("generate_responses", tmp_path).main(argv) == 0
    assert len(ReplyStore(tmp_path / "replies" / "gr")) == 6
    examples = read_jsonl(examples_path, Example)
    assert [e.id for e in examples] == [t.id for t in tasks]
    assert {e.instruction_model for e in examples} == {"fake-model"}
    assert json.loads(metrics2.read_text())["examples"] == 6


@pytest.mark.slow
@pytest.mark.parametrize("structured_output", ["auto", "off"])
def test_parse_yield_on_the_embedded_model(
    tmp_path: Path, structured_output: str, record_property: Callable[[str, object], None]
) -> None:
    """Two real requests to SmolLM2-135M; reports the parse yield (run with -s to see it)."""
    sampling = Sampling(temperature=1.0, top_p=1.0, presence_penalty=1.5, max_tokens=512)
    llm = LLMSection(
        teacher=RoleConfig(
            endpoint="embedded", structured_output=structured_output, sampling=sampling
        ),
        client=ClientConfig(timeout_s=900, max_retries=0, cache_dir=str(tmp_path / "cache")),
    )
    cfg = GenerateInstructionsConfig(
        num_tasks=100, tasks_per_request=4, max_requests=2, requests_per_round=2
    )
    seeds = load_seed_tasks(ROOT / "data" / "seeds" / "seed_tasks.jsonl")
    with open_role(llm, "teacher", root=tmp_path) as client:
        result = generate_instructions(seeds, client, cfg, 42, sampling=sampling, progress=False)
    metrics = result.metrics()
    record_property("parse_yield", metrics["parse_yield"])
    print(f"\n[{result.mode}] parse yield {metrics['parse_yield']:.2f} "
          f"({result.parsed_tasks}/{result.requested_tasks}), rejects {dict(result.rejects)}")  # fmt: skip
    assert result.requests == 2 and result.rejects["request_failed"] == 0
    assert result.mode == ("text" if structured_output == "off" else "structured")
    assert all(1 <= t.difficulty <= 5 and t.instruction for t in result.tasks)


def test_distributions_count_label_columns_with_an_other_bucket() -> None:
    tasks = [*SEEDS, SEEDS[0].model_copy(update={"difficulty": 5})]
    counts = distributions(tasks, top_k=2)
    # Canonical labels, as in the paper's figures: QA -> open QA, Extraction -> information extraction.
    assert counts["type"] == {"open QA": 2, "information extraction": 1, "(other)": 2}
    assert counts["view"] == {"patient": 2, "caregiver": 1, "(other)": 2}
    assert counts["difficulty"] == {"1": 1, "2": 1, "(other)": 3}


def test_on_round_reports_growing_counts_per_round() -> None:
    counter = itertools.count()

    def script(request: LLMRequest) -> tuple[str | None, str]:
        return json_reply([unique_task(next(counter), j) for j in range(2)]), "stop"

    client = FakeClient(script, mode="json_object")
    seen: list[tuple[int, float]] = []
    cfg = GenerateInstructionsConfig(
        num_tasks=6, tasks_per_request=2, max_requests=10, requests_per_round=1
    )
    generate_instructions(
        SEEDS,
        client,
        cfg,
        7,
        progress=False,
        on_round=lambda r, m: seen.append((r, m["tasks_kept"])),
    )
    assert seen == [(1, 2.0), (2, 4.0), (3, 6.0)]


# ---------------------------------------------------------------------------
# Rule filters before dedup, canonical labels


def words(tag: str, n: int = 7) -> str:
    return " ".join(f"w{tag}x{k}" for k in range(n))


def test_rules_run_before_dedup_and_rejects_never_enter_the_pool() -> None:
    """Self-Instruct's order: a task the rules drop cannot knock out a later near-duplicate."""

    def script(r: LLMRequest) -> tuple[str, str]:
        if r.sample_index == 0:
            tasks = [
                Task(
                    type="QA",
                    topic="T",
                    view="Nurse",
                    difficulty=2,
                    instruction=f"Sketch {words('a')}.",
                ),  # blacklisted (drawing)
                Task(type="QA", topic="T", view="Nurse", difficulty=2, instruction="Hi there"),
                Task(
                    type="QA",
                    topic="T",
                    view="Nurse",
                    difficulty=2,
                    instruction=f"Look at this image: {words('b')}.",
                ),  # blacklisted (image)
                unique_task(0, 0),
            ]
        else:  # near-duplicate of the blacklisted task (ROUGE-L F = 0.875 with it)
            tasks = [
                Task(
                    type="QA",
                    topic="T",
                    view="Nurse",
                    difficulty=2,
                    instruction=f"Explain {words('a')}.",
                )
            ]
        return text_reply(tasks), "stop"  # fmt: skip

    cfg = config(num_tasks=3, max_requests=2, requests_per_round=1)
    result = generate_instructions(SEEDS, FakeClient(script), cfg, rng_seed=7)
    assert result.rejects == Counter({"blacklisted": 2, "too_short": 1})
    assert [t.instruction for t in result.tasks] == [
        unique_task(0, 0).instruction,
        f"Explain {words('a')}.",
    ]
    metrics = result.metrics()
    assert (metrics["rejects.blacklisted"], metrics["rejects.too_short"]) == (2, 1)
    assert metrics["rejects.unsafe_phi"] == 0 and metrics["rejects.duplicate"] == 0
    assert result.parsed_tasks == 5


def test_rules_config_is_the_curate_filters_section() -> None:
    strict = FilterConfig(min_instruction_words=8)  # unique_task instructions have 6 words
    result = generate_instructions(
        SEEDS, FakeClient(fresh_tasks(4)), config(num_tasks=4, max_requests=3), 7, rules=strict
    )
    assert result.tasks == [] and result.rejects == Counter({"too_short": 12})
    assert result.stop_reason == "max_requests"


def test_kept_tasks_carry_canonical_labels_and_clean_topics() -> None:
    tasks = [
        Task(type="Triage,", topic="<b>Cardiology</b>,", view="Registered Nurse", difficulty=3,
             instruction=f"Explain {words('c', 5)}."),
        Task(type="Wound photo review", topic="<b>", view="Parent of teenager", difficulty=2,
             instruction=f"Describe {words('d', 5)}."),
    ]  # fmt: skip
    client = FakeClient(lambda r: (text_reply(tasks), "stop"))
    result = generate_instructions(SEEDS, client, config(num_tasks=2), rng_seed=7)
    labels = [(t.type, t.topic, t.view) for t in result.tasks]
    assert labels == [
        ("triage", "Cardiology", "nurse"),
        ("other: Wound photo review", "other", "caregiver"),
    ]


# ---------------------------------------------------------------------------
# Planned mode (a Batch API teacher): pilot, one plan, top-ups; same tasks as sequential


def planned_config(**overrides: Any) -> GenerateInstructionsConfig:
    base = dict(num_tasks=100, seed_tasks_per_prompt=2, tasks_per_request=4, max_requests=200,
                requests_per_round=2, batch_pilot_requests=5, batch_margin=0.15)  # fmt: skip
    return GenerateInstructionsConfig(**{**base, **overrides})


def run_both(script: Script, cfg: GenerateInstructionsConfig) -> tuple[Any, Any, FakeClient]:
    """The same script sequentially and planned; returns both results and the planned client."""
    sequential = generate_instructions(SEEDS, FakeClient(script), cfg, rng_seed=7, planned=False)
    client = FakeClient(script)
    planned = generate_instructions(SEEDS, client, cfg, rng_seed=7, planned=True)
    assert [t.model_dump() for t in planned.tasks] == [t.model_dump() for t in sequential.tasks]
    assert (planned.requests, planned.rounds, planned.rejects, planned.surplus) == (
        sequential.requests, sequential.rounds, sequential.rejects, sequential.surplus,
    )  # fmt: skip
    assert planned.stop_reason == sequential.stop_reason
    return sequential, planned, client


def test_planned_sends_a_pilot_then_what_the_yield_says_plus_the_margin() -> None:
    sequential, planned, client = run_both(fresh_tasks(4), planned_config())
    # Pilot: 5 requests rounded up to whole rounds (6) keep 24 tasks, 4 a request. The
    # plan: ceil(76 / 4 * 1.15) = 22 more. 100 tasks are kept in the round ending at 26.
    assert [len(call) for call in client.calls] == [6, 22]
    assert (planned.requests, planned.sent_requests, planned.sends) == (26, 28, 2)
    assert planned.metrics()["unused_replies"] == 2 and planned.surplus == 4
    assert sequential.sends == sequential.rounds == 13 and not sequential.planned
    assert [r.sample_index for r in client.requests] == list(range(28))  # one prefix, in order


def test_a_shortfall_is_topped_up_at_the_last_sends_yield() -> None:
    def script(r: LLMRequest) -> tuple[str, str]:
        n = 4 if r.sample_index < 6 else 1  # the yield falls after the pilot
        return text_reply([unique_task(r.sample_index, j) for j in range(n)]), "stop"

    _, planned, client = run_both(script, planned_config())
    # Pilot 6 -> 24 kept; plan 22 more -> 46 kept at 1 a request; top-up at that yield:
    # ceil(54 * 1.15) = 63, rounded up to whole rounds (64).
    assert [len(call) for call in client.calls] == [6, 22, 64]
    assert (len(planned.tasks), planned.requests, planned.stop_reason) == (100, 82, "num_tasks")


def test_nothing_kept_doubles_the_sends_up_to_max_requests() -> None:
    cfg = planned_config(num_tasks=10, max_requests=20, batch_pilot_requests=4)
    _, planned, client = run_both(lambda r: ("Sorry, I cannot do that.", "stop"), cfg)
    assert [len(call) for call in client.calls] == [4, 4, 8, 4]
    assert (planned.requests, planned.stop_reason) == (20, "max_requests")


def test_planned_stops_after_the_round_where_the_budget_ran_out() -> None:
    def script(r: LLMRequest) -> tuple[str | None, str]:
        if r.sample_index < 2:
            return text_reply([unique_task(r.sample_index, 0)]), "stop"
        return None, "budget_exhausted"

    _, planned, client = run_both(script, planned_config(num_tasks=50))
    assert [len(call) for call in client.calls] == [6]
    assert (len(planned.tasks), planned.requests, planned.stop_reason) == (2, 4, "budget_exhausted")


def test_planning_needs_prompts_without_generated_tasks() -> None:
    cfg = planned_config(machine_tasks_per_prompt=2)
    with pytest.raises(ValueError, match="machine_tasks_per_prompt"):
        generate_instructions(SEEDS, FakeClient(fresh_tasks(4)), cfg, rng_seed=7, planned=True)
    # A live (non-batch) client is never planned unless asked to be.
    result = generate_instructions(SEEDS, FakeClient(fresh_tasks(4)), planned_config(), 7)
    assert not result.planned and result.sends == result.rounds
