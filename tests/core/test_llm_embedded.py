"""The client against the real embedded llama-server (slow: each test starts servers)."""

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from medinstruct_core.llm import LLMRequest, LLMSection, Sampling, open_role
from medinstruct_core.llm.config import EmbeddedConfig
from medinstruct_core.llm.embedded import BUILTIN_MODELS
from medinstruct_core.llm.server import embedded_server
from medinstruct_core.llm.types import Endpoint
from medinstruct_core.llm.wire import build_payload

SCHEMA = {
    "type": "object",
    "properties": {"symptom": {"type": "string", "maxLength": 40}},
    "required": ["symptom"],
}


@pytest.mark.slow
def test_structured_output_from_llama_cpp_and_cache_survives_a_new_port(tmp_path):
    llm = LLMSection.model_validate(
        {"embedded": {"n_ctx": 1024}, "teacher": {"endpoint": "embedded"}}
    )
    request = LLMRequest(
        ({"role": "user", "content": "Name one symptom of asthma as JSON."},),
        Sampling(temperature=0.0, max_tokens=48, seed=0),
        json_schema=SCHEMA,
    )
    with open_role(llm, "teacher", root=tmp_path, env={}) as client:
        assert client.response_mode == "json_object"
        assert client.endpoint.model == "smollm2-135m"  # the role's registry model
        # The model's content and the server's build: replies of another server never hit.
        model_id, build = client.endpoint.cache_id.split("|")
        assert model_id == f"embedded/{BUILTIN_MODELS['smollm2-135m'].sha256}"
        assert build.startswith("llama-server version: ")
        [first] = client.run([request], progress=False)
    assert first.ok and not first.cached, first.error
    assert isinstance(json.loads(first.text)["symptom"], str)  # grammar-constrained by the schema
    # A second server gets another random port; the cache is keyed by the model's sha256, so it hits.
    with open_role(llm, "teacher", root=tmp_path, env={}) as client:
        [again] = client.run([request], progress=False)
        assert client.stats.api_calls == 0
    assert again.cached and again.text == first.text


def seeded_requests() -> list[LLMRequest]:
    """Sampled (temperature 1) requests; some share a prefix, some carry a schema."""
    topics = ("asthma", "gout", "anaemia", "migraine", "eczema", "angina")
    system = {"role": "system", "content": "You are a concise medical assistant."}
    return [
        LLMRequest(
            (system, {"role": "user", "content": f"Name one symptom of {topic} as JSON."}),
            Sampling(temperature=1.0, max_tokens=40, seed=7),
            json_schema=SCHEMA if i % 2 else None,
            sample_index=i,
        )
        for i, topic in enumerate(topics)
    ]


def send_all(url: str, requests: list[LLMRequest], order: list[int], in_flight: int) -> list[str]:
    """Replies by request index, sent in `order` with `in_flight` at a time."""
    endpoint = Endpoint(url, "smollm2-135m", "embedded", "json_object", "EMPTY")

    def one(i: int) -> tuple[int, str]:
        body = httpx.post(f"{url}/chat/completions", json=build_payload(endpoint, requests[i]),
                          timeout=300).json()  # fmt: skip
        return i, body["choices"][0]["message"]["content"]

    with ThreadPoolExecutor(max_workers=in_flight) as pool:
        replies = dict(pool.map(one, order))
    return [replies[i] for i in range(len(requests))]


@pytest.mark.slow
def test_seeded_replies_do_not_depend_on_arrival_order_or_batching():
    """Two fresh 2-slot servers: one request at a time in order vs two at a time reversed."""
    cfg = EmbeddedConfig(n_ctx=1024, parallel=2)
    requests = seeded_requests()
    forward = list(range(len(requests)))
    with embedded_server(cfg) as server:
        one_by_one = send_all(server.url, requests, forward, 1)
    with embedded_server(cfg) as server:
        interleaved = send_all(server.url, requests, forward[::-1], 2)
        assert server.metrics()["n_busy_slots_per_decode"] > 1.0  # they really shared batches
    assert interleaved == one_by_one
    assert len(set(one_by_one)) == len(requests)  # and the seeds did differ per request
