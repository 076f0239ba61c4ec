"""A teacher in Batch API mode plans its requests up front (against the fake files/batches
server, real HTTP): few batches, exactly `num_tasks` kept, the same tasks as sequential mode."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from medinstruct_core.llm import ClientConfig, LLMClient, ResponseCache
from medinstruct_core.llm.batch import BatchRunner, uses_batch_api
from medinstruct_core.llm.config import Price
from medinstruct_core.records import Task
from medinstruct_datagen.config import GenerateInstructionsConfig
from medinstruct_datagen.instructions import generate_instructions, plans_batches
from tests.fakes.fake_batch import FakeBatchAPI
from tests.fakes.fake_teacher import teacher_responder

SEEDS = [
    Task(type="QA", topic="Cardiology", view="Patient", difficulty=1,
         instruction="What is a normal resting heart rate for adults?"),
    Task(type="Summary", topic="Oncology", view="Physician", difficulty=4,
         instruction="Summarize the staging of this breast tumour.", input="T2 N1 M0."),
    Task(type="Rewrite", topic="Pediatrics", view="Parent", difficulty=2,
         instruction="Explain croup to worried parents in plain words."),
    Task(type="Extraction", topic="Nephrology", view="Nurse", difficulty=3,
         instruction="List the electrolytes that are out of range.", input="Na 128, K 6.1."),
]  # fmt: skip
PRICES = {"fake-model": Price(input=0.15, output=0.6)}


@pytest.fixture
def fake() -> Iterator[FakeBatchAPI]:
    with FakeBatchAPI(usage=(400, 600), responder=teacher_responder) as server:
        yield server


@pytest.fixture
def cache(tmp_path) -> Iterator[ResponseCache]:
    with ResponseCache(tmp_path / "llm" / "responses.sqlite") as c:
        yield c


def teacher(fake: FakeBatchAPI, cache: ResponseCache, *, batch: bool) -> LLMClient:
    """The teacher as roles.py builds it: with `batch`, run() is a BatchRunner's."""
    config = ClientConfig(prices=PRICES, max_retries=0)
    client = LLMClient(fake.endpoint(response_mode="json_schema"), config, cache=cache,
                       role="teacher", stage="generate_instructions")  # fmt: skip
    if batch:
        client.run = BatchRunner(client, poll_s=0.0).run  # type: ignore[method-assign]
    return client


def config(num_tasks: int, **overrides: object) -> GenerateInstructionsConfig:
    base = {"num_tasks": num_tasks, "tasks_per_request": 12, "requests_per_round": 4,
            "max_requests": 10 * num_tasks}  # fmt: skip
    return GenerateInstructionsConfig(**{**base, **overrides})


@pytest.mark.parametrize("num_tasks", [600, pytest.param(5000, marks=pytest.mark.slow)])
def test_planned_batches_keep_num_tasks_and_the_sequential_tasks(fake, cache, num_tasks):
    cfg = config(num_tasks)
    client = teacher(fake, cache, batch=True)
    assert uses_batch_api(client) and plans_batches(client, cfg)
    planned = generate_instructions(SEEDS, client, cfg, rng_seed=7, progress=False)
    assert planned.planned and planned.stop_reason == "num_tasks"
    assert len(planned.tasks) == num_tasks
    assert fake.calls["batches.create"] == planned.sends <= 3
    lines = sum(len(ids) for ids in fake.submitted_ids())
    assert lines == planned.sent_requests and set(fake.answered.values()) == {1}
    assert planned.sent_requests - planned.requests == planned.metrics()["unused_replies"]

    # Sequential mode over the same replies: a live client on the same cache sends nothing
    # (every request it asks is one the plan answered) and keeps the very same tasks.
    live = teacher(fake, cache, batch=False)
    sequential = generate_instructions(SEEDS, live, cfg, rng_seed=7, progress=False)
    assert not sequential.planned and live.stats.api_calls == 0
    assert [t.model_dump() for t in sequential.tasks] == [t.model_dump() for t in planned.tasks]
    assert (sequential.requests, sequential.rounds) == (planned.requests, planned.rounds)
    assert (sequential.rejects, sequential.surplus) == (planned.rejects, planned.surplus)
    assert planned.rejects["duplicate"] > 0 and planned.rejects["too_short"] > 0


def test_a_rerun_of_a_planned_run_creates_no_batch(fake, cache):
    cfg = config(300)
    first = generate_instructions(SEEDS, teacher(fake, cache, batch=True), cfg, 7, progress=False)
    created = fake.calls["batches.create"]
    again = generate_instructions(SEEDS, teacher(fake, cache, batch=True), cfg, 7, progress=False)
    assert fake.calls["batches.create"] == created
    assert [t.instruction for t in again.tasks] == [t.instruction for t in first.tasks]


def test_max_requests_caps_the_plan(fake, cache):
    cfg = config(5000, max_requests=30)
    result = generate_instructions(SEEDS, teacher(fake, cache, batch=True), cfg, 7, progress=False)
    assert result.stop_reason == "max_requests" and result.requests == result.sent_requests == 30
    assert sum(len(ids) for ids in fake.submitted_ids()) == 30
    assert fake.calls["batches.create"] == 2  # the pilot (20), then the 10 the cap leaves


def test_generated_tasks_in_prompts_keep_one_batch_per_round(fake, cache):
    cfg = config(60, machine_tasks_per_prompt=2)
    client = teacher(fake, cache, batch=True)
    assert not plans_batches(client, cfg)
    result = generate_instructions(SEEDS, client, cfg, rng_seed=7, progress=False)
    assert not result.planned and len(result.tasks) == 60
    assert fake.calls["batches.create"] == result.rounds == result.sends >= 2
    assert [len(ids) for ids in fake.submitted_ids()] == [4] * result.rounds
