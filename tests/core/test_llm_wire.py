import dataclasses

import httpx
import openai
import pytest

from medinstruct_core.llm.config import Sampling
from medinstruct_core.llm.types import Endpoint, LLMRequest
from medinstruct_core.llm.wire import (
    BadResponse,
    build_payload,
    classify,
    estimate_tokens,
    parse_completion,
    prompt_tokens_for,
)

SCHEMA = {"type": "object", "properties": {"a": {"type": "string"}}}
REQUEST = LLMRequest(
    ({"role": "user", "content": "x" * 40},),
    Sampling(temperature=0.2, top_p=0.9, max_tokens=7, presence_penalty=0.1, frequency_penalty=0.3),
    json_schema=SCHEMA,
    schema_name="thing",
)


def endpoint(mode):
    return Endpoint("http://h/v1", "m", "remote", mode, "k")


def test_json_object_dialect_for_llama_cpp():
    assert build_payload(endpoint("json_object"), REQUEST)["response_format"] == {
        "type": "json_object",
        "schema": SCHEMA,
    }


def test_json_schema_dialect_for_openai_and_vllm():
    assert build_payload(endpoint("json_schema"), REQUEST)["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "thing", "schema": SCHEMA, "strict": True},
    }


def test_off_or_no_schema_sends_no_response_format():
    assert "response_format" not in build_payload(endpoint("off"), REQUEST)
    plain = dataclasses.replace(REQUEST, json_schema=None)
    assert "response_format" not in build_payload(endpoint("json_schema"), plain)


def test_sampling_params_are_sent_and_every_request_carries_a_seed():
    payload = build_payload(endpoint("off"), REQUEST)
    assert {k: payload[k] for k in ("temperature", "top_p", "max_tokens", "presence_penalty", "frequency_penalty")} == {
        "temperature": 0.2, "top_p": 0.9, "max_tokens": 7, "presence_penalty": 0.1, "frequency_penalty": 0.3,
    }  # fmt: skip
    # unseeded requests would take llama.cpp's running seed chain: not reproducible
    assert payload["seed"] == 0
    seeded = dataclasses.replace(REQUEST, sampling=Sampling(seed=7))
    assert build_payload(endpoint("off"), seeded)["seed"] == 7
    # repeated samples of one prompt get distinct, deterministic seeds
    second = dataclasses.replace(seeded, sample_index=1)
    assert build_payload(endpoint("off"), second)["seed"] == 7 + 1_000_003


def test_token_estimate_is_chars_over_four_plus_max_tokens():
    assert estimate_tokens(REQUEST) == 40 // 4 + 1 + 7


@pytest.mark.parametrize(
    ("body", "fragment", "retryable"),
    [
        ("<html>oops</html>", "not JSON", True),
        ('{"choices": []}', "no choices", True),
        ('{"choices": [{"message": {"content": null}}]}', "no message content", True),
        ('{"choices": [{"message": {"content": null, "refusal": "no"}}]}', "refused", False),
    ],
)
def test_unusable_bodies_raise_bad_response(body, fragment, retryable):
    with pytest.raises(BadResponse, match=fragment) as info:
        parse_completion(body, REQUEST, "m")
    assert info.value.retryable is retryable


def test_missing_usage_is_estimated():
    done = parse_completion(
        '{"choices": [{"message": {"content": "12345678"}, "finish_reason": "length"}]}',
        REQUEST,
        "m",
    )
    assert (done.text, done.finish_reason, done.prompt_tokens, done.completion_tokens, done.model) == (
        "12345678", "length", 10, 2, "m",
    )  # fmt: skip


def status_error(code: int, body: dict) -> openai.APIStatusError:
    request = httpx.Request("POST", "http://h/v1/chat/completions")
    response = httpx.Response(code, json=body, request=request)
    return openai.APIStatusError("boom", response=response, body=body.get("error", body))


@pytest.mark.parametrize(
    ("code", "error_code", "reason", "retryable", "refused"),
    [
        (401, None, "http_error", False, True),
        (403, None, "http_error", False, True),
        (429, "insufficient_quota", "http_error", False, True),
        (429, "rate_limit_exceeded", "rate_limited", True, False),
        (429, None, "rate_limited", True, False),
        (404, None, "http_error", False, False),
        (500, None, "http_error", True, False),
    ],
)
def test_refusals_are_told_apart_from_what_a_retry_can_fix(
    code, error_code, reason, retryable, refused
):
    body = {"error": {"message": "m", "type": "t", "code": error_code}}
    failed = classify(status_error(code, body), "judge @ http://h/v1")
    assert (failed.reason, failed.retryable, failed.refused) == (reason, retryable, refused)
    assert failed.message.startswith("judge @ http://h/v1: HTTP")


def test_prompt_tokens_fall_back_to_the_estimate_for_non_openai_names():
    assert prompt_tokens_for(REQUEST, "my-local-model") == 40 // 4 + 1
