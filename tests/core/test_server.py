"""The embedded llama.cpp server: its command line, its model registry, its lifecycle."""

import contextlib
import os

import openai
import pytest

from medinstruct_core import doctor
from medinstruct_core.llm.config import EmbeddedConfig, LLMSection, RoleConfig
from medinstruct_core.llm.embedded import (
    EmbeddedServerError,
    LocalModel,
    file_sha256,
    model_status,
    registry,
    resolve_model,
)
from medinstruct_core.llm.server import (
    EmbeddedServer,
    ServerPool,
    embedded_server,
    server_command,
)
from medinstruct_core.params import ParamsError, parse_section


@pytest.fixture(autouse=True)
def _model_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDINSTRUCT_MODEL_CACHE", str(tmp_path / "model-cache"))


def user_model(tmp_path, name="mine", data=b"GGUF fake", sha=None):
    path = tmp_path / f"{name}.gguf"
    path.write_bytes(data)
    return EmbeddedConfig(models={name: {"gguf": str(path), "sha256": sha}}), path


def test_command_pins_threads_and_drops_all_logits(tmp_path):
    model = LocalModel("m", tmp_path / "m.gguf", "ab" * 32)
    cmd = server_command(EmbeddedConfig(n_threads=3, n_ctx=2048), model, 1234)
    flags = dict(zip(cmd[3::2], cmd[4::2], strict=True))
    assert cmd[1:3] == ["-m", "llama_cpp.server"]
    assert flags["--logits_all"] == "False"
    assert flags["--n_threads"] == flags["--n_threads_batch"] == "3"
    assert "--seed" not in flags  # per-request seeds only (see server.py)
    assert flags["--model_alias"] == "m" and flags["--n_ctx"] == "2048"


def test_registry_lists_builtins_then_user_models_and_refuses_clashes(tmp_path):
    cfg, _ = user_model(tmp_path)
    assert registry(cfg) == ["smollm2-135m", "qwen2.5-coder-1.5b", "mine"]
    clash = EmbeddedConfig(models={"smollm2-135m": {"gguf": "x.gguf"}})
    with pytest.raises(EmbeddedServerError, match=r"models\.smollm2-135m: the name is taken"):
        registry(clash)


def test_unknown_model_names_the_known_ones():
    with pytest.raises(EmbeddedServerError, match="unknown embedded model 'gpt5'; known: smollm2"):
        resolve_model(EmbeddedConfig(), "gpt5")


def test_user_model_cache_id_is_its_sha256_not_its_name(tmp_path):
    cfg, path = user_model(tmp_path, data=b"content A")
    first = resolve_model(cfg, "mine")
    assert first.cache_id == "embedded/" + file_sha256(path)
    path.write_bytes(b"content B")  # same name, other file: another cache identity
    os.utime(path, ns=(1, 1))
    assert resolve_model(cfg, "mine").cache_id != first.cache_id


def test_sha256_is_stamped_by_path_size_and_mtime(tmp_path, monkeypatch):
    _, path = user_model(tmp_path)
    digest = file_sha256(path)
    calls = []
    monkeypatch.setattr(
        "medinstruct_core.llm.embedded._sha256_stream", lambda p: calls.append(p) or "x"
    )
    assert file_sha256(path) == digest and calls == []  # the stamp answers
    os.utime(path, ns=(5, 5))
    assert file_sha256(path) == "x" and calls == [path]  # a touched file is hashed again


def test_pinned_sha256_mismatch_is_corrupt(tmp_path):
    cfg, _ = user_model(tmp_path, sha="0" * 64)
    with pytest.raises(EmbeddedServerError, match=r"has sha256 .*, expected 0000"):
        resolve_model(cfg, "mine")
    assert model_status(cfg, "mine").status == "corrupt"


def test_status_of_present_and_missing_models(tmp_path):
    cfg, path = user_model(tmp_path)
    assert model_status(cfg, "mine").status == "present"  # no pinned hash
    assert model_status(cfg, "qwen2.5-coder-1.5b").status == "missing"  # not assembled here
    path.unlink()
    assert model_status(cfg, "mine").status == "missing"


def test_role_picks_its_model_and_legacy_defaults_still_parse():
    llm = LLMSection.model_validate(
        {
            "embedded": {"gguf": "auto", "alias": "smollm2-135m-instruct", "n_ctx": 1024},
            "teacher": {"embedded_model": "qwen2.5-coder-1.5b"},
        }
    )
    assert llm.teacher.embedded_model == "qwen2.5-coder-1.5b"
    assert llm.judge.embedded_model == RoleConfig().embedded_model == "smollm2-135m"
    with pytest.raises(ParamsError, match="'gguf' was replaced by the model registry"):
        parse_section({"gguf": "/models/x.gguf"}, EmbeddedConfig, where="params.yaml: llm.embedded")


def test_missing_gguf_is_a_clear_error(tmp_path):
    cfg = EmbeddedConfig(models={"gone": {"gguf": str(tmp_path / "x.gguf")}})
    with pytest.raises(EmbeddedServerError, match="file not found"), embedded_server(cfg, "gone"):
        pass


@pytest.mark.slow
def test_server_crash_at_start_is_reported(tmp_path):
    cfg, bad = user_model(tmp_path, name="bad", data=b"not a gguf")
    with pytest.raises(EmbeddedServerError, match="exited with code"), embedded_server(cfg, "bad"):
        pass
    assert bad.exists()


@pytest.mark.slow
def test_embedded_server_answers_chat_and_stops_on_error():
    cfg = EmbeddedConfig(n_ctx=1024)
    with pytest.raises(RuntimeError, match="boom"), embedded_server(cfg) as server:
        assert server.alias == "smollm2-135m"
        client = openai.OpenAI(base_url=server.url, api_key="EMPTY", max_retries=0, timeout=60)
        reply = client.chat.completions.create(
            model=server.alias,
            messages=[{"role": "user", "content": "Name one symptom of asthma."}],
            max_tokens=16,
        )
        assert reply.choices[0].message.content.strip()
        raise RuntimeError("boom")
    with pytest.raises(openai.APIConnectionError):  # the server is gone after the block
        openai.OpenAI(base_url=server.url, api_key="EMPTY", max_retries=0, timeout=5).models.list()


def test_pool_starts_one_server_per_distinct_model_and_stops_all(tmp_path, monkeypatch):
    events = []

    @contextlib.contextmanager
    def fake_server(cfg, name):
        events.append(f"start {name}")
        yield EmbeddedServer(f"http://127.0.0.1/{name}", LocalModel(name, tmp_path, "0" * 64))
        events.append(f"stop {name}")

    monkeypatch.setattr("medinstruct_core.llm.server.embedded_server", fake_server)
    with ServerPool(EmbeddedConfig()) as pool:
        teacher, judge = pool.get("qwen2.5-coder-1.5b"), pool.get("qwen2.5-coder-1.5b")
        pool.get("smollm2-135m")
        assert teacher is judge and pool.running == ["qwen2.5-coder-1.5b", "smollm2-135m"]
    assert events == [
        "start qwen2.5-coder-1.5b",
        "start smollm2-135m",
        "stop smollm2-135m",
        "stop qwen2.5-coder-1.5b",
    ]


def test_doctor_fails_on_required_or_corrupt_models_only(tmp_path, capsys):
    cfg, _ = user_model(tmp_path, sha="0" * 64)
    llm = LLMSection(embedded=cfg, judge={"embedded_model": "qwen2.5-coder-1.5b"})
    assert doctor.required_models(llm) == {"smollm2-135m", "qwen2.5-coder-1.5b"}
    problems = doctor.check_models(llm)
    out = capsys.readouterr().out
    assert "verified  model smollm2-135m" in out and "corrupt   model mine" in out
    assert [p.split(":")[0] for p in problems] == ["model qwen2.5-coder-1.5b", "model mine"]
    optional = LLMSection(embedded=EmbeddedConfig())  # nobody uses the 1.5B: missing is fine
    assert doctor.check_models(optional) == []
    assert "missing   model qwen2.5-coder-1.5b (optional" in capsys.readouterr().out
