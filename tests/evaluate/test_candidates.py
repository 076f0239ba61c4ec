"""Candidates: config validation, resolution to a kind, MLflow downloads, and an endpoint
candidate answering through the one LLM client against a local fake OpenAI server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medinstruct_core.llm.config import ClientConfig, LLMSection
from medinstruct_core.params import ParamsError, parse_section
from medinstruct_core.records import EvalItem
from medinstruct_eval import candidates as cands
from medinstruct_eval import remote
from medinstruct_eval.candidates import Candidate, CandidateError
from medinstruct_eval.config import CandidateConfig, EvaluateConfig
from medinstruct_train.prompting import format_prompt


def _config(raw: dict) -> EvaluateConfig:
    return parse_section(raw, EvaluateConfig, where="params.yaml: evaluate")


def test_default_candidates_are_the_pipelines_base_and_student() -> None:
    cfg = EvaluateConfig()
    assert [(c.name, c.is_pipeline_model, c.template) for c in cfg.candidates] == [
        ("base", True, "auto"), ("student", True, "auto"),
    ]  # fmt: skip
    assert cfg.min_items_lc == 30 and cfg.head_to_head is False


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"name": "gpt"}, "candidate 'gpt': needs `model` or `endpoint`"),
        ({"name": "x", "endpoint": "http://h/v1"}, "`endpoint` needs `model_name`"),
        ({"name": "x", "model": "m", "model_name": "n"}, "`model_name` only goes with `endpoint`"),
        ({"name": "x", "model": "m", "endpoint": "http://h/v1", "model_name": "n"}, "not both"),
        ({"name": "a/b", "model": "m"}, "candidates.0.name"),
        ({"name": "champion", "model": "m"}, "reserved for the registry's champion"),
    ],
)
def test_bad_candidates_name_the_problem(entry: dict, message: str) -> None:
    with pytest.raises(ParamsError, match=message.replace("(", r"\(")):
        _config({"candidates": [entry]})


def test_duplicate_candidates_and_the_legacy_prompt_formats() -> None:
    with pytest.raises(ParamsError, match=r"candidates: duplicate name\(s\) \['base'\]"):
        _config({"candidates": [{"name": "base"}, {"name": "base"}]})
    legacy = _config({"prompt_formats": {"base": "auto", "student": "alpaca"}})
    assert [(c.name, c.template) for c in legacy.candidates] == [
        ("base", "auto"),
        ("student", "alpaca"),
    ]
    with pytest.raises(ParamsError, match="prompt_formats was replaced"):
        _config({"prompt_formats": {}, "candidates": [{"name": "base"}]})


def test_resolution_gives_each_candidate_its_kind(tmp_path: Path) -> None:
    tiny_model_dir = tmp_path / "model"  # resolution only checks the layout, nothing loads
    tiny_model_dir.mkdir()
    (tiny_model_dir / "config.json").write_text("{}")
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    configs = [
        CandidateConfig(name="student"),
        CandidateConfig(name="local", model=str(tiny_model_dir), template="chat"),
        CandidateConfig(name="q", model=str(gguf), template="alpaca"),
        CandidateConfig(name="api", endpoint="http://127.0.0.1:9/v1/", model_name="m"),
    ]
    found = cands.resolve_candidates(configs, {"student": tiny_model_dir}, cache_dir=tmp_path,
                                     lineage=lambda p: "models/student")  # fmt: skip
    assert [(c.name, c.kind, c.template) for c in found] == [
        ("student", "local", "auto"), ("local", "local", "chat"), ("q", "gguf", "alpaca"),
        ("api", "endpoint", "auto"),
    ]  # fmt: skip
    assert found[0].source == "models/student" and found[3].endpoint == "http://127.0.0.1:9/v1"
    assert found[3].source == "http://127.0.0.1:9/v1/ (m)"


def test_unusable_candidates_fail_by_name(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(CandidateError, match=r"candidate 'x' \(.*empty\): .*neither model weights"):
        cands.resolve_candidate(CandidateConfig(name="x", model=str(tmp_path / "empty")), {},
                                cache_dir=tmp_path)  # fmt: skip
    with pytest.raises(CandidateError, match="no such file or directory"):
        cands.locate_model(str(tmp_path / "nope"), tmp_path)
    with pytest.raises(CandidateError, match="the stage was given no student model"):
        cands.resolve_candidate(CandidateConfig(name="student"), {}, cache_dir=tmp_path)


def test_model_inside_finds_the_pyfunc_artifact(tmp_path: Path) -> None:
    weights = tmp_path / "artifacts" / "student"
    weights.mkdir(parents=True)
    (weights / "config.json").write_text("{}")
    (tmp_path / "MLmodel").write_text("")
    assert cands.model_inside(tmp_path, "models:/m/1") == weights
    with pytest.raises(CandidateError, match="no model directory or single GGUF"):
        cands.model_inside(tmp_path / "artifacts" / "student" / "nothing", "x")


@pytest.mark.slow  # MLflow's sqlite store takes ~20 s to create on a busy 2-core box
def test_mlflow_model_is_downloaded_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    model = tmp_path / "src" / "student"
    model.mkdir(parents=True)
    (model / "config.json").write_text(json.dumps({"model_type": "llama"}))
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(tmp_path / "src"), artifact_path="model")
    uri = f"runs:/{run.info.run_id}/model"
    first = cands.locate_model(uri, tmp_path / "cache")
    assert (first / "config.json").is_file() and first.name == "student"
    (first / "config.json").write_text("{}")  # a second call must not download again
    assert cands.locate_model(uri, tmp_path / "cache") == first
    assert (first / "config.json").read_text() == "{}"


# -- an endpoint candidate through the one client ------------------------------------------
def _llm(tmp_path: Path) -> LLMSection:
    client = ClientConfig(cache_dir=str(tmp_path / "cache"), max_retries=0, max_failure_rate=0.5)
    return LLMSection(client=client)


def _endpoint(fake, template: str = "auto") -> Candidate:
    return Candidate(
        "gpt", "endpoint", template, "fake", endpoint=fake.base_url, model_name="fake-model"
    )  # type: ignore[arg-type]


def test_endpoint_candidate_answers_through_the_client_and_its_cache(
    tmp_path: Path, fake_openai, items: list[EvalItem]
) -> None:
    candidate, sampling = _endpoint(fake_openai), remote.candidate_sampling(32, seed=1)
    sets = {"medinstruct": items[:2], "other": items[2:]}
    with remote.open_candidate(
        _llm(tmp_path), candidate, sampling, root=tmp_path, stage="evaluate"
    ) as client:
        assert client.role == "candidate.gpt"
        answers, failures = remote.answer_remote(client, candidate, sets, sampling)
    assert failures == {}
    assert answers["medinstruct"].texts == [
        "echo: What is anaemia?",
        "echo: " + items[1].instruction + "\n\n" + items[1].input,
    ]
    assert answers["other"].prompt_format == "chat_template" and answers["other"].prompts == [
        "Name one cause of fever."
    ]
    body = fake_openai.seen()[0].body
    assert body["model"] == "fake-model" and body["temperature"] == 0.0 and body["max_tokens"] == 32
    with remote.open_candidate(
        _llm(tmp_path), candidate, sampling, root=tmp_path, stage="evaluate"
    ) as client:
        again, _ = remote.answer_remote(client, candidate, sets, sampling)
    assert again["medinstruct"].texts == answers["medinstruct"].texts
    assert len(fake_openai.seen()) == 3  # the second run was answered from the cache


def test_endpoint_alpaca_template_and_failures_are_counted(
    tmp_path: Path, fake_openai, items: list[EvalItem]
) -> None:
    from tests.fakes.fake_openai import status

    fake_openai.plan(status(400), times=None, when="fever")
    candidate, sampling = _endpoint(fake_openai, "alpaca"), remote.candidate_sampling(16, seed=1)
    with remote.open_candidate(_llm(tmp_path), candidate, sampling, root=tmp_path) as client:
        answers, failures = remote.answer_remote(client, candidate, {"s": items}, sampling)
    assert answers["s"].prompts[0] == format_prompt("What is anaemia?")
    assert answers["s"].texts[2] == "" and sum(failures.values()) == 1


def test_endpoint_without_logprobs_is_not_scored_on_mcq(fake_openai) -> None:
    from medinstruct_eval.mcq_remote import probe_logprobs

    assert probe_logprobs(fake_openai.base_url, "fake-model", "") == (
        "/completions answered HTTP 404 (no log-probabilities)"
    )


def test_a_gguf_candidate_joins_the_embedded_registry(tmp_path: Path) -> None:
    gguf = tmp_path / "m.gguf"
    candidate = Candidate("mine", "gguf", "auto", str(gguf), path=gguf)
    section = remote.candidate_section(_llm(tmp_path), candidate, remote.candidate_sampling(8, 0))
    assert section.embedded.models["candidate-mine"].gguf == str(gguf)
    assert (
        section.responder.endpoint == "embedded"
        and section.responder.embedded_model == "candidate-mine"
    )
    assert section.responder.sampling.temperature == 0.0


# -- an endpoint that echoes log-probabilities (what vLLM's legacy /completions returns) ------
class _EchoCompletions:
    """A /v1/completions that echoes the prompt word by word (log-probability -1 each, -0.5
    for the generated token), the OpenAI legacy shape lm-eval's llama.cpp model reads."""

    def __enter__(self) -> str:
        import json as _json
        import re
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                """Quiet."""

            def do_POST(self) -> None:
                body = _json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                tokens = [*re.findall(r"\s*\S+", body["prompt"]), " X"]
                offsets = [sum(len(t) for t in tokens[:i]) for i in range(len(tokens))]
                logprobs = [None] + [-1.0] * (len(tokens) - 2) + [-0.5]
                choice = {"text": "".join(tokens), "index": 0, "logprobs": {
                    "tokens": tokens, "text_offset": offsets, "token_logprobs": logprobs,
                    "top_logprobs": [None] + [{t: -1.0} for t in tokens[1:]]}}  # fmt: skip
                data = _json.dumps({"choices": [choice]}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_endpoint_with_echoed_logprobs_is_scored() -> None:
    from types import SimpleNamespace

    from medinstruct_eval.mcq_remote import CompletionsLM, probe_logprobs

    with _EchoCompletions() as url:
        assert probe_logprobs(url, "m", "") == ""
        lm = CompletionsLM(url, "m")
        requests = [SimpleNamespace(args=("Question: Q?\nAnswer:", " B")),
                    SimpleNamespace(args=("Question: Q?\nAnswer:", " two words"))]  # fmt: skip
        assert lm.loglikelihood(requests, disable_tqdm=True) == [(-1.0, True), (-2.0, True)]
