"""The student in the MLflow registry: versions, tags, champion promotion, pyfunc and serving."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from types import SimpleNamespace

import pytest

from medinstruct_train.registry import decide, version_tags


def _champion(version: str, **tags: str) -> SimpleNamespace:
    return SimpleNamespace(version=version, tags=tags)


def test_first_version_becomes_champion():
    promoted, reason = decide("1", "win_rate", 0.5, (0.4, 0.6), None)
    assert promoted and "first champion" in reason


def test_promotion_needs_the_champion_below_the_candidate_ci():
    champ = _champion("3", **{"eval.win_rate": "0.55"})
    assert decide("4", "win_rate", 0.62, (0.56, 0.68), champ)[0] is True
    promoted, reason = decide("4", "win_rate", 0.62, (0.54, 0.70), champ)
    assert promoted is False
    assert reason.startswith("v4 win_rate 0.6200 (CI [0.5400, 0.7000]) does not beat champion v3")


def test_lower_is_better_metrics_compare_the_upper_bound():
    champ = _champion("1", **{"eval.loss": "2.0"})
    assert decide("2", "loss", 1.5, (1.2, 1.9), champ, higher_is_better=False)[0] is True
    assert decide("2", "loss", 1.5, (1.2, 2.1), champ, higher_is_better=False)[0] is False


def test_no_comparison_without_the_champion_score_or_against_itself():
    assert decide("2", "win_rate", 0.9, (0.8, 1.0), _champion("1"))[0] is False
    assert decide("1", "win_rate", 0.9, (0.8, 1.0), _champion("1"))[1].endswith(
        "already the champion"
    )


def test_version_tags_lead_back_to_code_data_and_generation_runs():
    tags = version_tags("abc123", "d41d8", ["r1", "r2"], "run9")
    assert tags == {
        "train_run_id": "run9", "generation_run_ids": "r1,r2",
        "git_commit": "abc123", "train_data_md5": "d41d8",
    }  # fmt: skip


@pytest.fixture(scope="module")
def registry(tiny_base, tmp_path_factory):
    """A trained tiny student logged twice into a fresh sqlite registry."""
    import mlflow

    from medinstruct_train.registry import log_student, promote_champion
    from medinstruct_train.sft import TrainConfig, train_sft
    from tests.train.conftest import make_examples

    work = tmp_path_factory.mktemp("registry")
    uri = f"sqlite:///{work / 'mlflow.db'}"
    old = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = uri
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("registry-test")
    cfg = TrainConfig(max_steps=1, max_length=96, per_device_train_batch_size=2, save_steps=0,
                      checkpoint_dir=str(work / "cache"))  # fmt: skip
    train_sft(cfg, tiny_base, make_examples(4), work / "student")
    with mlflow.start_run() as run:
        first = log_student(work / "student", git_commit="abc", data_md5="d1",
                            generation_run_ids=["gen1", "gen2"])  # fmt: skip
    second = log_student(work / "student", git_commit="def", data_md5="d2")
    decisions = [
        promote_champion(first.version, "win_rate", 0.50, (0.40, 0.60)),
        promote_champion(second.version, "win_rate", 0.58, (0.49, 0.67)),
        promote_champion(second.version, "win_rate", 0.70, (0.61, 0.79)),
    ]
    yield SimpleNamespace(uri=uri, work=work, first=first, second=second, run=run,
                          decisions=decisions)  # fmt: skip
    if old is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = old


@pytest.mark.slow
def test_versions_are_tagged_and_the_adapter_is_an_artifact(registry):
    import mlflow

    client = mlflow.MlflowClient()
    v1 = client.get_model_version("medinstruct-student", registry.first.version)
    assert (registry.first.version, registry.second.version) == ("1", "2")
    assert registry.first.run_id == registry.run.info.run_id  # logged into the active run
    assert v1.tags["git_commit"] == "abc" and v1.tags["train_data_md5"] == "d1"
    assert v1.tags["generation_run_ids"] == "gen1,gen2"
    names = {a.path for a in client.list_artifacts(registry.first.run_id, "adapter")}
    assert "adapter/adapter_model.safetensors" in names


@pytest.mark.slow
def test_champion_moves_only_beyond_the_ci_and_says_why(registry):
    import mlflow

    first, blocked, moved = registry.decisions
    assert (first.promoted, blocked.promoted, moved.promoted) == (True, False, True)
    assert moved.previous == "1"
    client = mlflow.MlflowClient()
    champ = client.get_model_version_by_alias("medinstruct-student", "champion")
    assert str(champ.version) == "2" and champ.description.startswith(
        "champion: v2 win_rate 0.7000"
    )
    assert client.get_model_version("medinstruct-student", "1").tags["champion.replaced_by"] == "2"
    assert champ.tags["eval.win_rate.ci_low"] == "0.61"


@pytest.mark.slow
def test_pyfunc_loads_from_the_registry_and_answers(registry):
    import mlflow.pyfunc
    import pandas as pd

    model = mlflow.pyfunc.load_model(f"models:/medinstruct-student/{registry.first.version}")
    frame = pd.DataFrame([{"instruction": "Define sepsis.", "input": ""},
                          {"instruction": "Interpret.", "input": "Hb 9 g/dL"}])  # fmt: skip
    answers = model.predict(frame, params={"max_new_tokens": 4})
    assert len(answers) == 2 and all(isinstance(a, str) for a in answers)
    inputs = [c.name for c in model.metadata.get_input_schema().inputs]
    assert inputs == ["instruction", "input"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _post(url: str, payload: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status, json.loads(response.read())


def _wait_ready(url: str, proc: subprocess.Popen, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, "mlflow models serve exited"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)
    raise AssertionError(f"{url} not ready within {seconds} s")


@pytest.mark.slow
def test_mlflow_models_serve_the_champion_offline(registry, tmp_path):
    port = _free_port()
    cmd = [
        sys.executable, "-m", "mlflow", "models", "serve", "-m",
        "models:/medinstruct-student@champion", "--env-manager", "local",
        "-h", "127.0.0.1", "-p", str(port), "-w", "1",
    ]  # fmt: skip
    env = {**os.environ, "MLFLOW_TRACKING_URI": registry.uri, "HF_HUB_OFFLINE": "1",
           "MLFLOW_DISABLE_TELEMETRY": "true"}  # fmt: skip
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)  # fmt: skip
    try:
        _wait_ready(f"http://127.0.0.1:{port}/ping", proc, seconds=180)
        status, body = _post(
            f"http://127.0.0.1:{port}/invocations",
            {"dataframe_records": [{"instruction": "Define sepsis.", "input": ""}],
             "params": {"max_new_tokens": 4}},
        )  # fmt: skip
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)
    assert status == 200 and len(body["predictions"]) == 1
    assert isinstance(body["predictions"][0], str)
