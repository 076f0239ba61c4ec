"""The simulated endpoint writes what the project's own parsers, rules and judge read."""

from __future__ import annotations

import json
import random
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from medinstruct_core.llm import ClientConfig, LLMClient, ResponseCache, Sampling
from medinstruct_core.llm.batch import run_batch
from medinstruct_core.llm.types import Endpoint
from medinstruct_core.records import EvalItem, Task
from medinstruct_datagen.config import GenerateInstructionsConfig
from medinstruct_datagen.instructions import build_request, parse_reply
from medinstruct_datagen.responses import build_response_request
from medinstruct_datagen.seeds import load_seed_tasks
from medinstruct_eval.calibration import as_judging, load_calibration
from medinstruct_eval.judge import build_requests, to_verdict
from medinstruct_text.rules import FilterConfig, check_task_rules
from tests.fakes import sim_text
from tests.fakes.sim_openai import SimOpenAI, request_kind

ROOT = Path(__file__).resolve().parents[2]
SEEDS = load_seed_tasks(ROOT / "data" / "seeds" / "seed_tasks.jsonl")


@pytest.fixture
def sim() -> Iterator[SimOpenAI]:
    with SimOpenAI(seed=7) as server:
        yield server


def client(sim: SimOpenAI, mode: str = "off", model: str = "gpt-4") -> LLMClient:
    endpoint = Endpoint(sim.base_url, model, "remote", mode, "sk-test", cache_id="sim")  # type: ignore[arg-type]
    return LLMClient(endpoint, ClientConfig(max_concurrency=4, backoff_initial_s=0.01))


@pytest.mark.parametrize("mode", ["json_schema", "off"])
def test_teacher_replies_parse_into_the_tasks_asked_for(sim: SimOpenAI, mode: str) -> None:
    cfg = GenerateInstructionsConfig(tasks_per_request=12)
    requests = [
        build_request(i, SEEDS, [], cfg, 42, mode, Sampling(max_tokens=4096)) for i in range(20)
    ]
    results = client(sim, mode).run(requests, progress=False)
    parsed = [parse_reply(r, mode != "off") for r in results]
    assert all(not p.rejects for p in parsed), [p.rejects for p in parsed]
    counts = [len(p.tasks) for p in parsed]
    assert sum(counts) > 20 * 11 and max(counts) == 12  # one reply in twenty stops short
    assert sim.stats()["by_kind"]["teacher"]["requests"] == 20


def test_synthetic_tasks_pass_the_rule_filters_and_vary() -> None:
    rng = random.Random(0)
    tasks = [sim_text.make_task(rng) for _ in range(1000)]
    rejects = Counter(
        hit.reason
        for t in tasks
        if (hit := check_task_rules(Task(**vars(t)), FilterConfig())) is not None
    )
    assert rejects == Counter()
    assert len({t.instruction for t in tasks}) >= 995  # an exact repeat is rare, as from a model
    assert len({t.type for t in tasks}) >= 29 and {t.difficulty for t in tasks} == {1, 2, 3, 4, 5}
    first_words = Counter(t.instruction.split()[0] for t in tasks)
    assert len(first_words) > 60 and first_words.most_common(1)[0][1] < 0.15 * len(tasks)


def test_answers_stop_at_max_tokens_like_the_api(sim: SimOpenAI) -> None:
    requests = [
        build_response_request(task, i, Sampling(max_tokens=64))
        for i, task in enumerate(SEEDS[:10])
    ]
    results = client(sim, model="gpt-3.5-turbo").run(requests, progress=False)
    assert all(r.finish_reason == "length" and r.completion_tokens == 64 for r in results)
    assert [request_kind({"messages": list(r.request.messages)}) for r in results] == [
        "responder"
    ] * 10
    full = client(sim, model="gpt-3.5-turbo").run(
        [build_response_request(SEEDS[0], 0, Sampling(max_tokens=4096))], progress=False
    )
    assert full[0].finish_reason == "stop" and 100 < full[0].completion_tokens < 4096


@pytest.mark.parametrize("mode", ["json_schema", "off"])
def test_the_simulated_judge_passes_the_projects_calibration(sim: SimOpenAI, mode: str) -> None:
    evals, worse = as_judging(load_calibration(ROOT / "data" / "eval" / "calibration.jsonl"))
    requests = build_requests(evals, worse, Sampling(max_tokens=128), mode)  # type: ignore[arg-type]
    verdicts = [to_verdict(r) for r in client(sim, mode).run(requests, progress=False)]
    assert Counter(v.winner for v in verdicts)["invalid"] == 0
    for order in ("candidate_first", "reference_first"):
        right = [v.winner == "reference" for v in verdicts if v.order == order]
        assert sum(right) >= 0.8 * len(right), order  # calibration's min_accuracy, each order


def test_faults_are_api_errors_with_retry_after() -> None:
    with SimOpenAI(fault_rate=1.0) as sim:
        body = json.dumps(
            {"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]}
        ).encode()
        codes, retry_after = Counter(), set()
        for _ in range(30):
            request = urllib.request.Request(f"{sim.base_url}/chat/completions", data=body,
                                             headers={"Content-Type": "application/json"})  # fmt: skip
            with pytest.raises(urllib.error.HTTPError) as failed:
                urllib.request.urlopen(request, timeout=10)
            codes[failed.value.code] += 1
            if failed.value.code == 429:
                retry_after.add(failed.value.headers.get("Retry-After"))
        assert set(codes) <= {429, 500, 503} and sum(codes.values()) == 30
        assert retry_after <= {"0.05"} and sim.stats()["faults"] == {
            str(k): v for k, v in codes.items()
        }


def test_a_faulty_endpoint_is_retried_to_completion(tmp_path) -> None:
    with SimOpenAI(fault_rate=0.3, seed=1) as sim:
        requests = [
            build_response_request(t, i, Sampling(max_tokens=256)) for i, t in enumerate(SEEDS[:30])
        ]
        results = client(sim, model="gpt-3.5-turbo").run(requests, progress=False)
        assert all(r.ok for r in results)
        assert sum(sim.stats()["faults"].values()) > 0


def test_batch_api_lines_are_answered_like_live_requests(sim: SimOpenAI, tmp_path) -> None:
    items = [EvalItem(id=f"e{i}", instruction=t.instruction, input=t.input, reference="A full answer.")
             for i, t in enumerate(SEEDS[:5])]  # fmt: skip
    requests = build_requests(items, {"student": [""] * 5}, Sampling(max_tokens=128), "json_schema")
    batch_client = client(sim, "json_schema")
    batch_client.cache = ResponseCache(tmp_path / "responses.sqlite")
    results = run_batch(batch_client, requests, poll_s=0.01)
    verdicts = [to_verdict(r) for r in results]
    assert [v.winner for v in verdicts] == ["reference"] * 10  # an empty answer always loses
    assert sim.stats()["batch_calls"]["batches.create"] == 1
    assert sim.stats()["by_kind"]["judge"]["requests"] == 10
