"""LLMClient against the fault-injecting fake server (real HTTP on 127.0.0.1)."""

import asyncio
import itertools
import json
import logging
import socket
import time

import pytest

from medinstruct_core.cli import run_cli
from medinstruct_core.llm import (
    ClientConfig,
    Endpoint,
    EndpointRefused,
    EndpointUnreachable,
    LLMClient,
    LLMRequest,
    ResponseCache,
    Sampling,
    TooManyFailures,
)
from medinstruct_core.llm.client import UnpricedModel
from medinstruct_core.llm.config import Price
from medinstruct_core.llm.tracing import LLMCall
from medinstruct_core.llm.wire import build_payload
from tests.fakes.fake_openai import DROP, HANG, LENGTH, NON_JSON, QUOTA, SLOW, TRUNCATED, status

# Tiny backoff so retries are fast, and far below the Retry-After values tested.
FAST = {"backoff_initial_s": 0.01, "backoff_max_s": 0.02, "timeout_s": 2.0}


def config(**overrides) -> ClientConfig:
    return ClientConfig(**{**FAST, "max_concurrency": 4, "max_retries": 3, **overrides})


def requests(n: int, max_tokens: int = 8) -> list[LLMRequest]:
    return [
        LLMRequest(
            ({"role": "user", "content": f"item-{i:02d}"},),
            Sampling(max_tokens=max_tokens),
            key=f"item-{i:02d}",
        )
        for i in range(n)
    ]


def run(fake, n=1, *, cache=None, **overrides):
    client = LLMClient(fake.endpoint(), config(**overrides), cache=cache, role="test")
    return client, client.run(requests(n), progress=False)


def one(fake, **overrides):
    """One request through acomplete(): its result, without run()'s batch-level verdict."""
    client = LLMClient(fake.endpoint(), config(**overrides), role="test")
    return client, asyncio.run(client.acomplete(requests(1)[0]))


def gaps(seen) -> list[float]:
    return [b.arrived - a.arrived for a, b in itertools.pairwise(seen)]


# -- faults -------------------------------------------------------------------------------
def test_429_honours_retry_after_seconds(fake_openai):
    fake_openai.plan(status(429, retry_after="0.6"), times=2)
    client, [result] = run(fake_openai)
    assert result.ok and result.attempts == 3
    assert all(g >= 0.58 for g in gaps(fake_openai.seen()))
    assert client.stats.api_calls == 3


def test_429_honours_retry_after_ms(fake_openai):
    fake_openai.plan(status(429, retry_after_ms="400"))
    _, [result] = run(fake_openai)
    assert result.ok and result.attempts == 2
    assert gaps(fake_openai.seen())[0] >= 0.38


def test_429_without_retry_after_backs_off_then_fails_as_rate_limited(fake_openai):
    fake_openai.plan(status(429), times=None)
    client, result = one(fake_openai, max_retries=2)
    assert result.failure == "rate_limited" and result.attempts == 3
    assert "gave up after 3 attempts" in result.error
    assert len(fake_openai.seen()) == 3
    assert client.stats.failures["rate_limited"] == 1


def test_500_is_retried(fake_openai):
    fake_openai.plan(status(500), times=2)
    _, [result] = run(fake_openai)
    assert result.ok and result.attempts == 3 and result.text == "echo: item-00"


@pytest.mark.parametrize(("code", "hint"), [(400, "rejected"), (404, "not found")])
def test_client_errors_fail_at_once_with_a_clear_message(fake_openai, code, hint):
    fake_openai.plan(status(code), times=None)
    _, result = one(fake_openai)
    assert result.failure == "http_error" and result.attempts == 1
    assert (
        f"HTTP {code}" in result.error
        and hint in result.error
        and "test @ http://127.0.0.1" in result.error
    )
    assert len(fake_openai.seen()) == 1


def test_slow_response_times_out_and_is_retried(fake_openai):
    fake_openai.plan(SLOW(3.0))
    started = time.monotonic()
    _, [result] = run(fake_openai, timeout_s=0.3)
    assert result.ok and result.attempts == 2
    assert time.monotonic() - started < 2.0


def test_permanent_timeout_fails_cleanly(fake_openai):
    fake_openai.plan(HANG, times=None)
    client, result = one(fake_openai, timeout_s=0.2, max_retries=1)
    assert result.failure == "timeout" and result.attempts == 2
    assert client.stats.failures["timeout"] == 1


@pytest.mark.parametrize(
    ("fault", "reason"),
    [(TRUNCATED, "bad_response"), (NON_JSON, "bad_response"), (DROP, "connection")],
)
def test_broken_bodies_are_retried_and_never_cached(fake_openai, tmp_path, fault, reason):
    fake_openai.plan(fault)
    with ResponseCache(tmp_path / "c.sqlite") as cache:
        _, [result] = run(fake_openai, cache=cache)
        assert result.ok and result.attempts == 2 and result.text == "echo: item-00"
        assert len(cache) == 1
    fake_openai.plan(fault, times=None)
    _, failed = one(fake_openai, max_retries=1)
    assert failed.failure == reason and failed.attempts == 2


def test_length_truncated_answer_is_returned_and_cached(fake_openai, tmp_path):
    fake_openai.plan(LENGTH)
    with ResponseCache(tmp_path / "c.sqlite") as cache:
        client, [first] = run(fake_openai, cache=cache)
        _, [again] = run(fake_openai, cache=cache)
    assert first.ok and first.truncated and not first.cached
    assert again.cached and again.truncated and again.text == first.text
    assert client.stats.truncated == 1
    assert len(fake_openai.seen()) == 1


# -- batches ------------------------------------------------------------------------------
def test_one_failing_item_does_not_resend_the_others(fake_openai):
    fake_openai.plan(status(500), times=None, when="item-03")
    client, results = run(fake_openai, 10, max_retries=2)
    assert [r.request.key for r in results] == [f"item-{i:02d}" for i in range(10)]  # input order
    assert [r.ok for r in results] == [i != 3 for i in range(10)]
    assert results[3].failure == "http_error" and results[3].attempts == 3
    for i in range(10):
        assert len(fake_openai.seen(f"item-{i:02d}")) == (3 if i == 3 else 1)
    assert client.stats.failures["http_error"] == 1 and client.stats.requests == 10
    assert client.stats.as_metrics("gen/")["gen/failures_http_error"] == 1.0


def test_identical_requests_in_one_batch_are_sent_once(fake_openai):
    batch = requests(1) * 3
    client = LLMClient(fake_openai.endpoint(), config(), role="test")
    results = client.run(batch, progress=False)
    assert [r.ok for r in results] == [True, True, True]
    assert sum(r.cached for r in results) == 2
    assert len(fake_openai.seen()) == 1


def test_budget_stops_new_requests_and_returns_the_rest_as_exhausted(fake_openai):
    # "item-NN" is 7 chars -> 2 prompt tokens estimated; usage matches, so the
    # worst case (2 in + 5 out) is exactly what each request costs: $0.0007.
    fake_openai.usage = (2, 5)
    prices = {"fake-model": Price(input=100.0, output=100.0)}
    client = LLMClient(fake_openai.endpoint(), config(budget_usd=0.005, prices=prices), role="test")
    results = client.run(requests(20, max_tokens=5), progress=False)
    assert [r.ok for r in results] == [True] * 7 + [False] * 13
    assert {r.failure for r in results[7:]} == {"budget_exhausted"}
    assert len(fake_openai.seen()) == 7
    assert client.stats.cost_usd == pytest.approx(0.0049) and client.stats.cost_usd <= 0.005
    assert client.budget_exhausted and client.stats.failures["budget_exhausted"] == 13


def test_cost_and_tokens_are_counted_unknown_model_costs_nothing(fake_openai):
    fake_openai.usage = (10, 20)
    priced = LLMClient(
        fake_openai.endpoint(), config(prices={"fake-model": Price(input=1.0, output=2.0)})
    )
    priced.run(requests(3), progress=False)
    assert priced.stats.as_metrics()["cost_usd"] == pytest.approx(3 * (10 * 1.0 + 20 * 2.0) / 1e6)
    unpriced = LLMClient(
        fake_openai.endpoint(), config(prices={"other": Price(input=1.0, output=2.0)})
    )
    unpriced.run(requests(3), progress=False)
    assert unpriced.stats.cost_usd == 0.0 and unpriced.stats.prompt_tokens == 30


def test_rpm_limiter_paces_requests(fake_openai):
    # 1200 rpm = 20/s with a burst of 20: the other 20 of 40 requests need ~1 s.
    # (0.8, not 1.0: the first request's arrival lags its send by connection setup.
    # Without the limiter all 40 arrive within ~0.2 s.)
    started = time.monotonic()
    _, results = run(fake_openai, 40, max_concurrency=8, requests_per_minute=1200)
    elapsed = time.monotonic() - started
    arrivals = sorted(s.arrived for s in fake_openai.seen())
    assert all(r.ok for r in results)
    assert arrivals[-1] - arrivals[0] >= 0.8
    assert arrivals[19] - arrivals[0] < 0.6  # the burst is a burst (paced it would take 0.95 s)
    assert elapsed < 3.0


def test_tpm_limiter_paces_by_estimated_tokens(fake_openai):
    # Each request reserves 2 + 1 + 98 = 101 tokens; 12120 tpm = 202/s with a burst of
    # 202: two requests now, then one every 0.5 s.
    fake_openai.usage = (3, 98)  # true usage = estimate, so nothing is refunded
    started = time.monotonic()
    client = LLMClient(fake_openai.endpoint(), config(tokens_per_minute=12120), role="test")
    results = client.run(requests(4, max_tokens=98), progress=False)
    assert all(r.ok for r in results)
    assert 0.95 <= time.monotonic() - started < 2.0


def test_rerun_is_served_from_cache_for_free(fake_openai, tmp_path):
    fake_openai.usage = (10, 10)
    prices = {"fake-model": Price(input=1.0, output=1.0)}
    with ResponseCache(tmp_path / "c.sqlite") as cache:
        first, _ = run(fake_openai, 5, cache=cache, prices=prices)
        second, results = run(fake_openai, 5, cache=cache, prices=prices)
    assert first.stats.cost_usd > 0
    assert all(r.cached and r.ok for r in results)
    assert len(fake_openai.seen()) == 5
    metrics = second.stats.as_metrics()
    assert (
        metrics["cache_hits"],
        metrics["cost_usd"],
        metrics["tokens_in"],
        metrics["api_calls"],
    ) == (5, 0, 0, 0)


def test_unreachable_endpoint_raises_quickly_naming_the_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends: connection refused
    endpoint = Endpoint(f"http://127.0.0.1:{port}/v1", "m", "remote", "off", "sk-unreachable-key")
    client = LLMClient(endpoint, config(max_retries=2), role="teacher")
    started = time.monotonic()
    with pytest.raises(EndpointUnreachable, match=f"127.0.0.1:{port}") as info:
        client.run(requests(500), progress=False)
    assert time.monotonic() - started < 3.0
    assert "sk-unreachable-key" not in str(info.value)
    assert client.stats.requests < 20  # it did not grind through the batch


def test_single_request_to_unreachable_endpoint_fails_cleanly():
    endpoint = Endpoint("http://127.0.0.1:9/v1", "m", "remote", "off", "k")
    client = LLMClient(endpoint, config(max_retries=1))
    result = asyncio.run(client.acomplete(requests(1)[0]))
    assert result.failure == "connection" and "cannot connect" in result.error


def test_structured_output_is_sent_in_the_endpoint_dialect(fake_openai):
    schema = {"type": "object", "properties": {"echo": {"type": "string"}}}
    request = LLMRequest(
        ({"role": "user", "content": "q"},), Sampling(seed=3), json_schema=schema, schema_name="e"
    )
    client = LLMClient(fake_openai.endpoint(response_mode="json_schema"), config())
    assert client.response_mode == "json_schema"
    [result] = client.run([request], progress=False)
    body = fake_openai.seen()[0].body
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "e", "schema": schema, "strict": True},
    }
    assert body["seed"] == 3 and body["model"] == "fake-model"
    assert result.text == '{"echo": "q"}'


def test_the_server_receives_exactly_the_built_payload(fake_openai):
    """The client posts `build_payload`'s body through the SDK: nothing added, dropped or
    renamed on the way (the SDK's own `create` transform is bypassed, see CHAT_PATH)."""
    request = LLMRequest(
        ({"role": "system", "content": "sé"}, {"role": "user", "content": "q ☃"}),
        Sampling(max_tokens=5, temperature=0.3, seed=9),
        json_schema={"type": "object"},
        sample_index=2,
    )
    endpoint = fake_openai.endpoint(response_mode="json_object")
    [result] = LLMClient(endpoint, config()).run([request], progress=False)
    [seen] = fake_openai.seen()
    assert seen.body == build_payload(endpoint, request)
    assert seen.authorization == "Bearer sk-fake-key"
    assert json.loads(result.text or "") == {"echo": "q ☃"}


def test_api_key_never_leaks_into_errors_logs_stats_or_cache(fake_openai, tmp_path, caplog):
    secret = "sk-very-secret-123"
    fake_openai.plan(status(400, message=f"Bad request with key {secret}"), when="item-01")
    fake_openai.plan(status(500, message=f"oops {secret}"), times=None, when="item-02")
    fake_openai.plan(status(401, message=f"Incorrect API key provided: {secret}"), when="item-03")
    caplog.set_level(logging.DEBUG)
    calls: list[LLMCall] = []
    lenient = config(max_retries=1, max_failure_rate=1.0)
    endpoint = fake_openai.endpoint(api_key=secret)
    with ResponseCache(tmp_path / "c.sqlite") as cache:
        client = LLMClient(endpoint, lenient, cache=cache, on_call=calls.append)
        results = client.run(requests(3), progress=False)
        with pytest.raises(EndpointRefused) as refused:  # item-03 gets the 401
            client.run(requests(4)[3:], progress=False)
    with pytest.raises(TooManyFailures) as too_many:  # item-02 fails every time
        LLMClient(endpoint, config(max_retries=1)).run(requests(3)[2:], progress=False)
    assert fake_openai.seen()[0].authorization == f"Bearer {secret}"  # it was used...
    assert results[0].ok and results[1].failure and results[2].failure and len(calls) == 1
    leaks = [r.error or "" for r in results] + [
        caplog.text,
        repr(client.stats),
        repr(client.endpoint),
        repr(calls),
        str(too_many.value),
        str(refused.value),
    ]
    assert not [text for text in leaks if secret in text]  # ...and shown nowhere
    assert secret.encode() not in b"".join(p.read_bytes() for p in tmp_path.iterdir())


def test_on_result_sees_every_result_and_can_set_postfix(fake_openai):
    client = LLMClient(fake_openai.endpoint(), config())
    seen = []

    def on_result(result):
        seen.append(result.request.key)
        client.set_postfix(kept=len(seen))

    client.run(requests(6), on_result=on_result, desc="gen", progress=True)
    assert sorted(seen) == [f"item-{i:02d}" for i in range(6)]


def test_run_works_inside_a_running_event_loop(fake_openai):
    client = LLMClient(fake_openai.endpoint(), config())

    async def caller():
        return client.run(requests(2), progress=False)

    assert [r.ok for r in asyncio.run(caller())] == [True, True]


def test_max_concurrency_bounds_requests_in_flight(fake_openai):
    fake_openai.latency_s = 0.1
    _, results = run(fake_openai, 12, max_concurrency=3)
    assert all(r.ok for r in results)
    assert fake_openai.peak_in_flight == 3


# -- failing fast on what retries cannot fix ----------------------------------------------------
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed once the block ends: connection refused


def test_unpriced_remote_model_is_refused_before_any_request(fake_openai):
    paid = config(free_endpoints=[])  # the fake's 127.0.0.1 URL is no longer free
    with pytest.raises(UnpricedModel, match=r"'fake-model'.*llm\.client\.prices\.fake-model"):
        LLMClient(fake_openai.endpoint(), paid, role="judge")
    openai_default = Endpoint(None, "gpt-4o-mini", "remote", "json_schema", "sk-x")
    with pytest.raises(UnpricedModel, match=r"api\.openai\.com.*prices\.gpt-4o-mini"):
        LLMClient(openai_default, config())
    assert len(fake_openai.seen()) == 0
    embedded = Endpoint("http://10.0.0.1:8080/v1", "local", "embedded", "json_object", "EMPTY")
    assert LLMClient(embedded, paid).free  # the embedded server needs no price
    priced = config(free_endpoints=[], prices={"fake-model": Price(input=1.0, output=1.0)})
    assert not LLMClient(fake_openai.endpoint(), priced).free


@pytest.mark.parametrize(
    ("fault", "reason"),
    [(QUOTA, "insufficient_quota"), (status(401), "authentication failed"),
     (status(403), "access denied")],
)  # fmt: skip
def test_refused_endpoint_stops_the_stage_after_exactly_one_request(fake_openai, fault, reason):
    fake_openai.plan(fault, times=None)
    client = LLMClient(fake_openai.endpoint(), config(max_concurrency=4, max_retries=5))
    with pytest.raises(EndpointRefused) as info:
        client.run(requests(10), progress=False)
    assert len(fake_openai.seen()) == 1  # neither retried nor sent by the other workers
    message = str(info.value)
    assert reason in message and fake_openai.base_url in message and "\n" not in message
    with pytest.raises(EndpointRefused):  # and it stays refused, still without sending
        client.run(requests(2), progress=False)
    assert len(fake_openai.seen()) == 1


def test_refusal_is_a_user_error_of_one_line_and_exit_2(fake_openai, capsys):
    fake_openai.plan(status(401), times=None)
    client = LLMClient(fake_openai.endpoint(), config())

    def main() -> int:
        client.run(requests(3), progress=False)
        return 0

    assert run_cli(main, "generate_instructions") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("generate_instructions: error: ")
    assert "HTTP 401" in err and fake_openai.base_url in err


def test_unreachable_endpoint_with_small_runs_stops_within_a_bounded_number_of_calls():
    endpoint = Endpoint(f"http://127.0.0.1:{closed_port()}/v1", "m", "remote", "off", "k")
    client = LLMClient(endpoint, config(max_retries=1), role="teacher")
    calls = 0
    with pytest.raises(EndpointUnreachable):
        for calls in range(1, 11):  # noqa: B007 - read after the loop
            client.run(requests(2), progress=False)
    assert calls <= 2 and client.stats.api_calls <= 2 * 2 * 2


def test_unreachable_is_counted_across_run_calls(fake_openai, tmp_path):
    # Each run() holds one cache hit and one new request to a dead server: no single run
    # is "all connection failures", and cache hits must not reset the count.
    with ResponseCache(tmp_path / "c.sqlite") as cache:
        LLMClient(fake_openai.endpoint(), config(), cache=cache).run(requests(5), progress=False)
        dead = Endpoint(f"http://127.0.0.1:{closed_port()}/v1", "fake-model", "remote", "off",
                        "k", cache_id="fake")  # fmt: skip
        client = LLMClient(dead, config(max_retries=0, max_failure_rate=1.0), cache=cache)
        fresh = [LLMRequest(({"role": "user", "content": f"new-{i}"},), Sampling(max_tokens=8))
                 for i in range(5)]  # fmt: skip
        calls = 0
        with pytest.raises(EndpointUnreachable, match="the first 3 requests"):
            for calls in range(1, 6):
                results = client.run([requests(5)[calls - 1], fresh[calls - 1]], progress=False)
                assert [r.cached for r in results] == [True, False]
    assert calls == 3


def test_failure_rate_at_the_limit_passes_and_above_it_raises(fake_openai):
    for i in (1, 2):
        fake_openai.plan(status(500), times=None, when=f"item-0{i}")
    _, results = run(fake_openai, 10, max_retries=0)  # 2 of 10 = 0.2: not above
    assert sum(not r.ok for r in results) == 2
    fake_openai.plan(status(500), times=None, when="item-03")
    with pytest.raises(TooManyFailures, match=r"3 of 10 requests.*\(3 http_error\)"):
        run(fake_openai, 10, max_retries=0)


def test_a_run_where_every_request_failed_raises_even_with_no_rate_limit(fake_openai):
    fake_openai.plan(status(500), times=None)
    with pytest.raises(TooManyFailures, match="2 of 2 requests"):
        run(fake_openai, 2, max_retries=0, max_failure_rate=1.0)


def test_429_without_retry_after_pauses_every_worker(fake_openai):
    client = LLMClient(fake_openai.endpoint(), config(backoff_initial_s=0.6, backoff_max_s=0.6))
    client.run(requests(1), progress=False)  # the endpoint is proven: workers run in parallel
    fake_openai.latency_s = 0.1
    fake_openai.plan(status(429), times=1, when="item-01")
    client.run(requests(9)[1:], progress=False)
    seen = fake_openai.seen()[1:]
    limited = next(s for s in seen if s.fault == "status").arrived
    after = sorted(s.arrived - limited for s in seen if s.arrived > limited)
    # The 429 comes back at +0.1 s, as do the 3 other requests in flight; their workers may
    # race it to send one more each. After that, the shared pause (0.3-0.6 s) holds every
    # worker: nothing may arrive between +0.2 s and +0.39 s. Without it, the workers'
    # next requests would arrive at ~+0.2-0.3 s.
    # (requests sent in the same instant as the limited one may arrive just before it)
    assert len(seen) == 9 and len(after) >= 5, after
    assert not [t for t in after if 0.2 < t < 0.39], after
    assert after[-1] >= 0.39


def test_spend_metrics_are_always_present(fake_openai):
    client, _ = run(fake_openai, 2)
    metrics = client.stats.as_metrics("llm.")
    assert metrics["llm.spend_usd_stage"] == 0.0 and metrics["llm.spend_usd_total"] == 0.0
