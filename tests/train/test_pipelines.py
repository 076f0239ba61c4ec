"""pipelines/prepare_base_model.py and pipelines/train.py end to end: tiny model, MLflow in tmp."""

import importlib.util
import json
from pathlib import Path

import pytest
import yaml

from medinstruct_core.io import write_jsonl
from tests.train.conftest import make_examples

REPO = Path(__file__).resolve().parents[2]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(
        f"{name}_pipeline", REPO / "pipelines" / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_prepare_then_train_write_model_metrics_plots_and_mlflow_steps(tmp_path, monkeypatch):
    import mlflow

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["base_model"] = {"source": "tiny-random", "dtype": "float32"}
    params["train"] = {
        **params["train"],
        "max_steps": 2,
        "max_length": 96,
        "per_device_train_batch_size": 2,
        "gradient_accumulation_steps": 1,
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    write_jsonl(tmp_path / "train.jsonl", make_examples(6))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("MEDINSTRUCT_REPRO_ID", "dvc-1-1")
    prepare, train = _load("prepare_base_model"), _load("train")

    assert (
        prepare.main(["--params", str(tmp_path / "params.yaml"), "--out", str(tmp_path / "base")])
        == 0
    )
    rc = train.main([
        "--params", str(tmp_path / "params.yaml"), "--train", str(tmp_path / "train.jsonl"),
        "--base", str(tmp_path / "base"), "--out", str(tmp_path / "student"),
        "--metrics", str(tmp_path / "metrics.json"), "--plots", str(tmp_path / "loss.csv"),
    ])  # fmt: skip

    assert rc == 0
    assert (tmp_path / "student" / "model.safetensors").is_file()
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert (metrics["steps"], metrics["n_train"]) == (2, 6)
    lines = (tmp_path / "loss.csv").read_text().splitlines()
    assert lines[0] == "step,loss" and [line.split(",")[0] for line in lines[1:]] == ["1", "2"]
    runs = mlflow.search_runs(search_all_experiments=True, output_format="list")
    stages = {r.data.tags.get("medinstruct.stage"): r for r in runs}
    assert {"prepare_base_model", "train"} <= set(stages)
    train_run = stages["train"]
    assert train_run.data.params["train.max_steps"] == "2" and train_run.data.params["seed"] == str(
        params["seed"]
    )
    assert train_run.data.metrics["steps"] == 2.0
    history = mlflow.MlflowClient().get_metric_history(train_run.info.run_id, "loss")
    assert sorted(m.step for m in history) == [1, 2]
    assert stages["prepare_base_model"].data.metrics["num_parameters"] == 3_219_776
