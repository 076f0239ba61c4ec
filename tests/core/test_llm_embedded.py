"""The client against the real embedded llama.cpp server (slow: starts a server twice)."""

import json

import pytest

from medinstruct_core.llm import LLMRequest, LLMSection, Sampling, open_role
from medinstruct_core.llm.embedded import BUILTIN_MODELS

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
        assert client.endpoint.cache_id == f"embedded/{BUILTIN_MODELS['smollm2-135m'].sha256}"
        [first] = client.run([request], progress=False)
    assert first.ok and not first.cached, first.error
    assert isinstance(json.loads(first.text)["symptom"], str)  # grammar-constrained by the schema
    # A second server gets another random port; the cache is keyed by the model's sha256, so it hits.
    with open_role(llm, "teacher", root=tmp_path, env={}) as client:
        [again] = client.run([request], progress=False)
        assert client.stats.api_calls == 0
    assert again.cached and again.text == first.text
