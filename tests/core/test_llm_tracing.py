"""MLflow Tracing of LLM calls, against a real sqlite MLflow store."""

import json

import pytest

from medinstruct_core.llm import ClientConfig, LLMClient, LLMRequest, MlflowTracer, Sampling
from medinstruct_core.llm.tracing import LLMCall, attach_tracer, sample_rate, sampled
from medinstruct_core.llm.types import Endpoint

SECRET = "sk-trace-secret-9876"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One sqlite tracking store for the module (creating one costs seconds)."""
    mlflow = pytest.importorskip("mlflow")
    path = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{path}")
        mlflow.set_tracking_uri(None)  # let the environment variable decide
        yield mlflow
    mlflow.set_tracking_uri(None)


@pytest.fixture
def experiment(store, request):
    """A fresh experiment per test; yields its id."""
    return store.create_experiment(request.node.name)


def requests(n: int) -> list[LLMRequest]:
    return [
        LLMRequest(({"role": "system", "content": f"never say {SECRET}"},
                    {"role": "user", "content": f"question-{i}"}),
                   Sampling(max_tokens=16), key=f"q{i}")
        for i in range(n)
    ]  # fmt: skip


def traces(experiment_id: str) -> list:
    import mlflow

    return mlflow.search_traces(
        locations=[experiment_id], return_type="list", include_spans=True, flush=True
    )


def traced_client(fake, experiment_id: str, rate: float) -> tuple[LLMClient, MlflowTracer]:
    tracer = MlflowTracer(rate, experiment_id=experiment_id)
    endpoint = fake.endpoint(api_key=SECRET)
    client = LLMClient(endpoint, ClientConfig(max_retries=0), role="judge", stage="evaluate",
                       on_call=tracer)  # fmt: skip
    return client, tracer


def test_every_call_becomes_one_llm_span_at_sample_one(fake_openai, experiment):
    fake_openai.usage = (11, 7)
    client, tracer = traced_client(fake_openai, experiment, 1.0)
    results = client.run(requests(3), progress=False)
    tracer.flush()
    found = traces(experiment)
    assert (len(found), tracer.traced, tracer.errors) == (3, 3, 0)
    replies = set()
    for trace in found:
        [span] = trace.data.spans
        assert span.span_type == "LLM" and span.name == "judge.chat.completions"
        attrs = span.attributes
        assert [attrs[k] for k in ("role", "stage", "model")] == ["judge", "evaluate", "fake-model"]
        assert (attrs["prompt_tokens"], attrs["completion_tokens"], attrs["cache_hit"]) == (
            11, 7, False,
        )  # fmt: skip
        assert attrs["latency_s"] > 0 and span.end_time_ns >= span.start_time_ns
        assert span.inputs["messages"][1]["content"].startswith("question-")
        replies.add(span.outputs["reply"])
        assert SECRET not in json.dumps(trace.to_dict())  # neither the key nor its echo
    assert replies == {r.text for r in results}


def test_cache_hits_are_traced_as_such(fake_openai, experiment, tmp_path):
    from medinstruct_core.llm import ResponseCache

    with ResponseCache(tmp_path / "c.sqlite") as cache:
        for _ in range(2):
            client, tracer = traced_client(fake_openai, experiment, 1.0)
            client.cache = cache
            client.run(requests(2), progress=False)
    tracer.flush()
    hits = sorted(t.data.spans[0].attributes["cache_hit"] for t in traces(experiment))
    assert hits == [False, False, True, True]


def test_sample_zero_traces_nothing(fake_openai, experiment):
    client, tracer = traced_client(fake_openai, experiment, 0.0)
    client.run(requests(3), progress=False)
    tracer.flush()
    assert traces(experiment) == [] and tracer.traced == 0


def test_sampling_is_deterministic_by_cache_key():
    keys = [f"{i:016x}" + "0" * 48 for i in range(0, 2**64, 2**54)]  # 1024 spread over [0, 1)
    picked = [k for k in keys if sampled(k, 0.25)]
    assert len(picked) == 256 and picked == [k for k in keys if sampled(k, 0.25)]
    assert all(sampled(k, 1.0) for k in keys) and not any(sampled(k, 0.0) for k in keys)


def test_default_rate_is_one_for_embedded_and_a_percent_for_remote():
    embedded = Endpoint("http://127.0.0.1:1/v1", "m", "embedded", "json_object")
    remote = Endpoint(None, "gpt-4o-mini", "remote", "json_schema")
    assert (sample_rate(None, embedded), sample_rate(None, remote)) == (1.0, 0.01)
    assert sample_rate(0.5, remote) == 0.5
    client = LLMClient(embedded, ClientConfig(trace_sample=0.3))
    assert attach_tracer(client).sample_rate == 0.3 and client.on_call is not None


def test_a_failing_tracer_never_breaks_the_call(fake_openai, monkeypatch):
    tracer = MlflowTracer(1.0)
    monkeypatch.setattr(tracer, "_trace", lambda call: 1 / 0)
    call = LLMCall("ab", "r", "s", "m", (), "x", 1, 1, 0.1, False, 0, 1)
    tracer(call)
    assert (tracer.traced, tracer.errors) == (0, 1)


def test_open_role_traces_only_inside_an_mlflow_run(fake_openai, experiment, tmp_path):
    import mlflow

    from medinstruct_core.llm import LLMSection, open_role

    llm = LLMSection.model_validate(
        {"client": {"trace_sample": 1.0, "max_retries": 0},
         "teacher": {"endpoint": fake_openai.base_url, "model": "fake-model"}}
    )  # fmt: skip
    with open_role(llm, "teacher", root=tmp_path, stage="gen", env={}) as client:
        client.run(requests(2), progress=False)  # no run active: not traced
        with mlflow.start_run(experiment_id=experiment):
            client.run(requests(3)[2:], progress=False)
    client.on_call.flush()
    [trace] = traces(experiment)
    assert trace.data.spans[0].attributes["stage"] == "gen"
