"""The embedded llama.cpp server: its command line, its model registry, its lifecycle."""

import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import openai
import pytest

from medinstruct_core import doctor
from medinstruct_core.llm import build_server
from medinstruct_core.llm.build_server import BINARY_ENV
from medinstruct_core.llm.cache import cache_key
from medinstruct_core.llm.config import EmbeddedConfig, LLMSection, RoleConfig, Sampling
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
    parse_metrics,
    server_binary,
    server_command,
    server_identity,
)
from medinstruct_core.llm.types import Endpoint, LLMRequest
from medinstruct_core.params import ParamsError, parse_section


@pytest.fixture(autouse=True)
def _model_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDINSTRUCT_MODEL_CACHE", str(tmp_path / "model-cache"))


def user_model(tmp_path, name="mine", data=b"GGUF fake", sha=None):
    path = tmp_path / f"{name}.gguf"
    path.write_bytes(data)
    return EmbeddedConfig(models={name: {"gguf": str(path), "sha256": sha}}), path


def options(cmd):
    """{flag: value}, a switch (no value) mapping to None."""
    found, args = {}, cmd[1:]
    for i, arg in enumerate(args):
        if arg.startswith("-"):
            nxt = args[i + 1] if i + 1 < len(args) else "-"
            found[arg] = None if nxt.startswith("-") else nxt
    return found


def test_command_runs_llama_server_with_slots_metrics_and_no_kv_shift(tmp_path):
    model = LocalModel("m", tmp_path / "m.gguf", "ab" * 32)
    cfg = EmbeddedConfig(n_threads=3, n_ctx=2048, parallel=3)
    cmd = server_command(cfg, model, 1234, "/opt/llama-server")
    assert cmd[0] == "/opt/llama-server"
    assert options(cmd) == {
        "-m": str(model.path),
        "--alias": "m",
        "--host": "127.0.0.1",
        "--port": "1234",
        "-c": "6144",  # llama.cpp splits -c evenly among the slots
        "--parallel": "3",
        "--no-kv-unified": None,
        "-t": "3",
        "-tb": "3",
        "--cache-reuse": "0",
        "--cache-ram": "1024",
        "--metrics": None,
        "--no-webui": None,
        "--fit": "off",
        "--flash-attn": "off",  # batch-invariant kernels: see server.py
        "--no-cont-batching": None,
        "--no-cache-prompt": None,
    }  # no --seed: per-request seeds only (see server.py)
    fast = options(server_command(cfg.model_copy(update={"deterministic": False}), model, 1))
    assert fast["--flash-attn"] == "auto" and "--cont-batching" in fast and "--cache-prompt" in fast
    assert "--no-cont-batching" not in fast and "--no-cache-prompt" not in fast
    many = options(server_command(cfg.model_copy(update={"parallel": 4}), model, 1))
    assert "--no-repack" in many  # 4 decoding slots would switch the Q4 kernels to GEMM


def test_parallel_defaults_to_two_slots_and_one_means_one():
    assert EmbeddedConfig().parallel == 2
    cmd = server_command(EmbeddedConfig(parallel=1, n_ctx=1024), LocalModel("m", "m", ""), 1)
    assert cmd[cmd.index("-c") + 1] == "1024" and cmd[cmd.index("--parallel") + 1] == "1"
    with pytest.raises(ParamsError, match="parallel"):
        parse_section({"parallel": 0}, EmbeddedConfig, where="params.yaml: llm.embedded")


def test_cache_key_changes_with_the_server_build(tmp_path):
    model = LocalModel("m", tmp_path / "m.gguf", "ab" * 32)
    request = LLMRequest(({"role": "user", "content": "hi"},), Sampling(seed=1))
    keys, ids = set(), set()
    for identity in ("llama-server version: 1 (0c1e570)", "llama-server version: 2 (1d2f3a4)", ""):
        server = EmbeddedServer("http://127.0.0.1:1/v1", model, identity)
        endpoint = Endpoint(server.url, "m", "embedded", "json_object", cache_id=server.cache_id)
        keys.add(cache_key(endpoint, request))
        ids.add(server.cache_id)
    assert len(keys) == len(ids) == 3
    assert EmbeddedServer("u", model, "x").cache_id == f"embedded/{'ab' * 32}|x"


def fake_binary(path, body="echo 'version: 7 (abc1234)'; echo 'built with cc for x86_64'"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def test_identity_comes_from_the_binary_version(tmp_path):
    binary = fake_binary(tmp_path / "llama-server")
    assert server_identity(binary) == (
        "llama-server version: 7 (abc1234); built with cc for x86_64"
    )
    fast = server_identity(binary, EmbeddedConfig(deterministic=False))
    assert fast.endswith("; fast kernels")  # other numerics, other cache identity
    assert server_identity(binary, EmbeddedConfig()) == server_identity(binary)
    broken = fake_binary(tmp_path / "broken" / "llama-server", "exit 3")
    with pytest.raises(EmbeddedServerError, match="does not answer --version"):
        server_identity(broken)


def test_missing_binary_says_run_make_setup(tmp_path, monkeypatch):
    monkeypatch.setenv(BINARY_ENV, str(tmp_path / "nope" / "llama-server"))
    with pytest.raises(EmbeddedServerError, match="run `make setup`"):
        server_binary()
    cfg, _ = user_model(tmp_path)
    with (
        pytest.raises(EmbeddedServerError, match="llama-server not found"),
        embedded_server(cfg, "mine"),
    ):
        pass


METRICS = """# HELP llamacpp:prompt_tokens_total Number of prompt tokens processed
# TYPE llamacpp:prompt_tokens_total counter
llamacpp:prompt_tokens_total 120
llamacpp:tokens_predicted_total 48
llamacpp:predicted_tokens_seconds 15.5
llamacpp:spec_decode_num_accepted_tokens_per_pos_total{position="0"} 3
other_metric 1
"""


def test_metrics_parse_scalars_only():
    assert parse_metrics(METRICS) == {
        "prompt_tokens_total": 120.0,
        "tokens_predicted_total": 48.0,
        "predicted_tokens_seconds": 15.5,
    }


def test_registry_lists_builtins_then_user_models_and_refuses_clashes(tmp_path):
    cfg, _ = user_model(tmp_path)
    assert registry(cfg) == ["smollm2-135m", "qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b", "mine"]
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


def test_doctor_reports_the_rouge_scan_without_failing(tmp_path, monkeypatch, capsys):
    from medinstruct_text import scan_kernel

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty"))
    doctor.check_rouge_scan()
    assert "note rouge scan: not built at" in capsys.readouterr().out
    built = scan_kernel.build()
    doctor.check_rouge_scan()
    assert f"ok   rouge scan {built}" in capsys.readouterr().out


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


def test_lock_pin_reads_the_locked_sdist_and_names_a_bad_field(tmp_path):
    pin = build_server.lock_pin(build_server.find_lock([Path(__file__)]))
    assert pin.version and len(pin.sha256) == 64 and pin.url.endswith(".tar.gz")
    assert pin.tag == pin.sha256[:16]
    bad = tmp_path / "uv.lock"
    bad.write_text('[[package]]\nname = "x"\n\n[[package]]\nname = "llama-cpp-python"\n'
                   'version = "1"\nsdist = { url = "u", hash = "md5:00" }\n')  # fmt: skip
    with pytest.raises(build_server.BuildError, match=r"uv.lock: package\[1\] .*\.sdist"):
        build_server.lock_pin(bad)


def sdist(tmp_path, name="pkg-1.0"):
    tree = tmp_path / "tree"
    fake_binary(tree / name / "vendor" / "llama.cpp" / "CMakeLists.txt", "")
    (tree / name / "setup.py").write_text("")
    tarball = tmp_path / f"{name}.tar.gz"
    with tarfile.open(tarball, "w:gz") as archive:
        archive.add(tree / name, arcname=name)
    return tarball


def test_download_checks_the_sha256_and_unpack_keeps_only_llama_cpp(tmp_path):
    tarball = sdist(tmp_path)
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
    (tmp_path / "dl").mkdir()
    pin = build_server.SdistPin("1.0", tarball.as_uri(), digest)
    got = build_server.download(pin, tmp_path / "dl")
    src = build_server.unpack_vendored(got, tmp_path / "src")
    assert src == tmp_path / "src" / "pkg-1.0" / "vendor" / "llama.cpp"
    assert (src / "CMakeLists.txt").is_file()
    assert not (tmp_path / "src" / "pkg-1.0" / "setup.py").exists()
    with pytest.raises(build_server.BuildError, match=r"does not match uv\.lock"):
        build_server.download(build_server.SdistPin("1.0", tarball.as_uri(), "0" * 64), tmp_path)


def test_configure_is_portable_static_and_offline(tmp_path):
    cmd = build_server.configure_command(tmp_path / "s", tmp_path / "b", "cmake", "/bin/ninja")
    for define in ("GGML_NATIVE=OFF", "BUILD_SHARED_LIBS=OFF", "LLAMA_USE_PREBUILT_UI=OFF",
                   "LLAMA_OPENSSL=OFF", "LLAMA_BUILD_SERVER=ON", "CMAKE_BUILD_TYPE=Release"):  # fmt: skip
        assert f"-D{define}" in cmd
    assert cmd[cmd.index("-G") + 1] == "Ninja"
    assert "-G" not in build_server.configure_command(tmp_path, tmp_path, "cmake", None)
    assert build_server.build_command(tmp_path, "cmake", 2)[-4:] == [
        "--target", "llama-server", "--parallel", "2"
    ]  # fmt: skip


def test_a_working_build_is_reused_and_a_broken_one_replaced(tmp_path, monkeypatch, capsys):
    pin = build_server.SdistPin("1.0", "file:///nowhere", "ab" * 32)
    home = tmp_path / "home"
    target = fake_binary(build_server.pinned_binary(pin, home))
    assert build_server.ensure_server(pin, home) == target  # no download attempted
    assert "already built" in capsys.readouterr().out
    target.write_text("#!/bin/sh\nexit 1\n")  # broken: rebuilt and swapped in whole
    monkeypatch.setattr(
        build_server, "compile_server", lambda src, build, jobs: fake_binary(build / "llama-server")
    )
    monkeypatch.setattr(build_server, "download", lambda pin, dest: sdist(dest))
    assert build_server.ensure_server(pin, home, jobs=1) == target
    assert build_server.version_text(target) is not None
    assert [p.name for p in home.iterdir()] == [pin.tag]  # no staging folder left behind


@pytest.mark.slow
def test_the_stage_run_gets_the_servers_own_token_counts(tmp_path: Path) -> None:
    """What llama-server itself counted lands on the active MLflow run as server.<model>.*."""
    import httpx
    import mlflow

    from medinstruct_core.llm.roles import log_server_metrics

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    with ServerPool(EmbeddedConfig(parallel=1, n_ctx=1024)) as pool:
        server = pool.get("smollm2-135m")
        body = {"model": server.alias, "messages": [{"role": "user", "content": "Say hi."}],
                "max_tokens": 8, "seed": 1, "temperature": 0}  # fmt: skip
        httpx.post(f"{server.url}/chat/completions", json=body, timeout=120).raise_for_status()
        with mlflow.start_run() as run:
            values = log_server_metrics(pool)
    assert values["server.smollm2-135m.tokens_predicted_total"] >= 1
    assert values["server.smollm2-135m.prompt_tokens_total"] >= 5
    logged = mlflow.get_run(run.info.run_id).data.metrics
    assert (
        logged["server.smollm2-135m.tokens_predicted_total"]
        == (values["server.smollm2-135m.tokens_predicted_total"])
    )


# A stand-in llama-server: answers --version, records its pid, serves /health on --port.
FAKE_SERVER = """if [ "$1" = "--version" ]; then echo 'version: 7 (abc1234)'; exit 0; fi
echo $$ > "$FAKE_SERVER_PID"
exec "$FAKE_PYTHON" -c '
import http.server, sys
port = int(sys.argv[sys.argv.index("--port") + 1])
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"{}")
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", port), Health).serve_forever()
' "$@"
"""

# A stage that starts the embedded server and then waits to be killed.
STAGE = """import sys, time
from pathlib import Path
from medinstruct_core.llm.config import EmbeddedConfig
from medinstruct_core.llm.embedded import LocalModel
from medinstruct_core.llm.server import embedded_server
with embedded_server(EmbeddedConfig(), LocalModel("fake", Path(sys.argv[1]), "ab" * 32)):
    print("up", flush=True)
    time.sleep(600)
"""


def _running(pid: int) -> bool:
    """Whether pid is a live process (a zombie waiting for its reaper is not)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_stage_killed_with_minus_9_takes_its_server_with_it(tmp_path):
    binary = fake_binary(tmp_path / "bin" / "llama-server", FAKE_SERVER)
    model = tmp_path / "fake.gguf"
    model.write_bytes(b"GGUF")
    pid_file = tmp_path / "server.pid"
    env = {**os.environ, BINARY_ENV: str(binary), "FAKE_SERVER_PID": str(pid_file),
           "FAKE_PYTHON": sys.executable}  # fmt: skip
    stage = subprocess.Popen(
        [sys.executable, "-c", STAGE, str(model)], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert stage.stdout is not None and stage.stdout.readline().strip() == "up"
        server = int(pid_file.read_text())
        assert _running(server)
        stage.kill()  # SIGKILL: no finally block, no atexit
        stage.wait(timeout=30)
        deadline = time.monotonic() + 60  # a bound for a hung box, not a speed check
        while _running(server) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _running(server), "the server outlived its stage"
    finally:
        stage.kill()
        with contextlib.suppress(NameError, ProcessLookupError):
            os.kill(server, signal.SIGKILL)


def test_no_parent_death_hook_off_the_main_thread():
    """PR_SET_PDEATHSIG fires when the starting *thread* exits: only the main thread sets it."""
    from medinstruct_core.llm.server import _parent_death_hook

    found = []
    worker = threading.Thread(target=lambda: found.append(_parent_death_hook()))
    worker.start()
    worker.join()
    assert found == [None]
    assert (_parent_death_hook() is not None) == sys.platform.startswith("linux")
