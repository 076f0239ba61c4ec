"""The whole DAG on the smoke profile: real llama.cpp, real DVC, real MLflow, real GX.

One scratch copy of the project is reproduced once (the session fixture `smoke` in
conftest.py), tracking to a real `mlflow server` over HTTP, then each test checks one
promise against it. tests/integration/test_team.py reuses the same workspace.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from tests.integration.conftest import STAGES, dvc, first_lock, smoke_run

# One module fixture runs the whole smoke DAG (~10 min on 2 idle cores); give it room.
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(2700)]


def out_md5s(lock_path: Path, stages: tuple[str, ...] = STAGES) -> dict[str, str]:
    """DVC's md5 of every data/ and models/ out of `stages`, read from a dvc.lock."""
    import yaml

    lock = yaml.safe_load(lock_path.read_text())
    return {
        out["path"]: out["md5"]
        for name, stage in lock["stages"].items()
        if name in stages
        for out in stage.get("outs", [])
        if out["path"].startswith(("data/", "models/"))
    }


def test_dag_has_eight_stages_with_gate_before_training(smoke: Path) -> None:
    out = dvc(smoke, "dag", "--mermaid").stdout
    names = dict(re.findall(r'(node\d+)\["([a-z_]+)"\]', out))
    edges = {(names[a], names[b]) for a, b in re.findall(r"(node\d+)-->(node\d+)", out)}
    assert sorted(names.values()) == sorted(STAGES)
    assert ("validate", "train") in edges and ("train", "evaluate") in edges


def test_every_stage_wrote_its_outputs_and_metrics(smoke: Path) -> None:
    for rel in ["models/base/config.json", "data/generated/instructions.jsonl", "data/generated/examples.jsonl",
                "data/curated/train.jsonl", "reports/gate/index.html"]:  # fmt: skip
        assert (smoke / rel).exists(), rel
    metrics = json.loads(dvc(smoke, "metrics", "show", "--json").stdout)
    assert metrics, "dvc metrics show returned nothing"
    evaluation = json.loads((smoke / "metrics" / "evaluate.json").read_text())
    for model in ("base", "student"):
        # the paper's three measures, for both models: win rate, length-controlled
        # win rate, position bias and invalid verdicts beside them, MCQ through lm-eval
        for key in ("win_rate", "lc_win_rate", "first_position_rate", "invalid_rate"):
            value = evaluation[f"medinstruct_{model}_{key}"]
            assert value is None or 0.0 <= value <= 1.0, (model, key, value)
        for subject in ("anatomy", "clinical_knowledge", "college_medicine", "medical_genetics",
                        "professional_medicine"):  # fmt: skip
            assert 0.0 <= evaluation[f"mcq_{model}_mmlu_{subject}_acc"] <= 1.0
        assert 0.0 <= evaluation[f"mcq_{model}_macro_acc"] <= 1.0
    assert any(k.startswith("calibration_") for k in evaluation), sorted(evaluation)
    report = (smoke / "reports" / "eval" / "report.md").read_text()
    assert (
        "# Evaluation report" in report and (smoke / "reports" / "eval" / "win_rates.png").exists()
    )


def test_mlflow_has_one_run_per_stage_with_lineage(smoke: Path) -> None:
    import mlflow

    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    runs = mlflow.search_runs(search_all_experiments=True, output_format="list")
    stages = [r for r in runs if r.data.tags.get("medinstruct.kind") == "stage"]
    assert sorted(r.data.tags["medinstruct.stage"] for r in stages) == sorted(STAGES)
    assert len({r.data.tags["medinstruct.repro_id"] for r in stages}) == 1
    by_stage = {r.data.tags["medinstruct.stage"]: r for r in stages}
    train_in = by_stage["train"].data.tags["in.data/curated/train.jsonl"]
    assert by_stage["curate"].data.tags["out.data/curated/train.jsonl"] == train_in
    for run in stages:
        assert run.data.tags["medinstruct.git_commit"] != "unknown"
        assert run.data.params, run.data.tags["medinstruct.stage"]


def test_second_repro_does_nothing(smoke: Path) -> None:
    out = dvc(smoke, "status").stdout
    assert "up to date" in out.lower(), out


def test_changing_a_training_param_reruns_only_train_and_evaluate(smoke: Path) -> None:
    proc = dvc(smoke, "exp", "run", "-S", "train.learning_rate=0.0003", check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ran = [s for s in STAGES if f"Running stage '{s}'" in proc.stdout]
    assert ran == ["train", "evaluate"], proc.stdout[-3000:]


def test_two_cold_runs_give_identical_data_and_model_outs(
    smoke: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Same seed, same machine, same code: every data/ and models/ out of the whole DAG is
    byte-identical (the trained student and the judge's replies included), from a second
    scratch copy whose LLM cache starts cold."""
    second = tmp_path_factory.mktemp("smoke-again")
    smoke_run(second)
    first, again = out_md5s(first_lock(smoke)), out_md5s(second / "dvc.lock")
    assert set(again) == {
        "models/base", "data/generated/instructions.jsonl", "data/generated/examples.jsonl",
        "data/curated/train.jsonl", "data/curated/rejected.jsonl",
        "data/replies/generate_instructions", "data/replies/generate_responses",
        "models/student", "data/benchmarks", "data/replies/evaluate",
    }  # fmt: skip
    assert again == first


def test_training_registered_a_loadable_student_version(smoke: Path) -> None:
    import mlflow

    from medinstruct_core.lineage import file_md5

    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    client = mlflow.MlflowClient()
    # one version per training run (the `dvc exp run` test above trains a second time)
    versions = client.search_model_versions("name = 'medinstruct-student'")
    trained = mlflow.search_runs(
        search_all_experiments=True,
        filter_string="tags.`medinstruct.stage` = 'train'",
        output_format="list",
    )
    assert versions and len(versions) == len(trained), (len(versions), len(trained))
    version = max(versions, key=lambda v: int(v.version))
    assert version.tags["git_commit"] != "unknown"
    assert version.tags["train_data_md5"] == file_md5(smoke / "data" / "curated" / "train.jsonl")
    model = mlflow.pyfunc.load_model(f"models:/medinstruct-student/{version.version}")
    import pandas as pd

    answers = model.predict(pd.DataFrame({"instruction": ["Name one symptom of asthma."]}),
                            params={"max_new_tokens": 4})  # fmt: skip
    assert len(answers) == 1
