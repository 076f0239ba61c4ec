"""The one stage contract: params, paths, the MLflow run, metrics and lineage."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from medinstruct_core.params import Config, ParamsError
from medinstruct_core.stage import StageSpec, open_stage


class Knobs(Config):
    threshold: float = 0.5
    words: int = 3


SPEC = StageSpec("demo", sections={"knobs": Knobs}, inputs=("data",), outputs=("out",))


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project root with params.yaml, an MLflow store of its own and one input file."""
    root = tmp_path / "proj"
    root.mkdir()
    (root / "params.yaml").write_text("seed: 7\nknobs: {threshold: 0.7}\n")
    (root / "in.jsonl").write_text('{"a": 1}\n')
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("MEDINSTRUCT_REPRO_ID", "dvc-9-9")
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.chdir(root)
    return root


def _run(argv: list[str], body=None) -> int:
    with open_stage(SPEC, argv) as stage:
        if body:
            body(stage)
        Path(stage.path("out")).write_text("result\n")
        return stage.finish({"kept": 3, "mode": "json"}, "done")


def _stage_runs():
    import mlflow

    runs = mlflow.search_runs(search_all_experiments=True, output_format="list")
    return {r.data.tags.get("medinstruct.kind"): r for r in runs}


def test_typed_sections_seed_and_metrics_file(project, capsys):
    seen = {}
    code = _run(
        ["--data", "in.jsonl", "--out", "out.txt", "--metrics", "m.json"],
        lambda st: seen.update(seed=st.seed, knobs=st.cfg("knobs"), root=st.root),
    )
    assert code == 0
    assert seen == {"seed": 7, "knobs": Knobs(threshold=0.7), "root": project}
    assert json.loads((project / "m.json").read_text()) == {"kept": 3, "mode": "json"}
    assert capsys.readouterr().out.strip().endswith("demo: done")


def test_a_typo_in_a_top_level_key_is_an_error_naming_it(project):
    (project / "params.yaml").write_text("seed: 7\nsed: 8\nknobs: {}\n")
    with pytest.raises(ParamsError, match="unknown key 'sed'"):
        _run(["--data", "in.jsonl", "--out", "o"])


def test_seed_must_be_an_integer(project):
    (project / "params.yaml").write_text("seed: '7'\nknobs: {}\n")
    with pytest.raises(ParamsError, match="key 'seed'"):
        _run(["--data", "in.jsonl", "--out", "o"])


def test_a_missing_section_is_an_error_naming_it(project):
    (project / "params.yaml").write_text("seed: 1\n")
    with pytest.raises(ParamsError, match="missing section 'knobs'"):
        _run(["--data", "in.jsonl", "--out", "o"])


def test_mlflow_run_params_inputs_outputs_and_parent(project):
    _run(["--data", "in.jsonl", "--out", "out.txt", "--metrics", "m.json"])
    runs = _stage_runs()
    stage, parent = runs["stage"], runs["repro"]
    assert stage.data.params == {"seed": "7", "knobs.threshold": "0.7", "knobs.words": "3"}
    assert stage.data.metrics == {"kept": 3.0}
    assert stage.data.tags["demo.mode"] == "json"
    md5 = hashlib.md5(b'{"a": 1}\n').hexdigest()
    assert stage.data.tags["in.in.jsonl"] == md5
    assert stage.data.tags["out.out.txt"] == hashlib.md5(b"result\n").hexdigest()
    assert "out.m.json" in stage.data.tags
    # the Dataset column: every input is a logged dataset with DVC's md5 as its digest
    datasets = [d.dataset for d in stage.inputs.dataset_inputs]
    assert [(d.name, d.digest) for d in datasets] == [("in.jsonl", md5)]
    assert {t.key: t.value for t in stage.inputs.dataset_inputs[0].tags} == {
        "mlflow.data.context": "input"
    }
    # ... and on the parent's row too: what the whole `dvc repro` read
    parent_datasets = [d.dataset for d in parent.inputs.dataset_inputs]
    assert [(d.name, d.digest) for d in parent_datasets] == [("in.jsonl", md5)]
    assert stage.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert parent.info.end_time >= stage.info.end_time  # the parent spans its stages


def test_experiment_opens_on_the_runs_table(project):
    import mlflow

    from medinstruct_core.tracking import runs_table_url

    base = "http://127.0.0.1:5000"
    # before any run: the experiments list, already in the model-training view
    assert runs_table_url(project, base) == f"{base}/#/experiments?workflowType=machine_learning"
    _run(["--data", "in.jsonl", "--out", "o"])
    experiment = mlflow.get_experiment_by_name("medinstruct")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    # the link `make ui` prints overrides MLflow 3.17's browser-level GenAI default
    assert runs_table_url(project, base + "/") == (
        f"{base}/#/experiments/{experiment.experiment_id}/runs?workflowType=machine_learning"
    )


def test_input_outside_the_project_is_named_by_its_absolute_path(project, tmp_path):
    outside = tmp_path / "elsewhere.jsonl"
    outside.write_text("x\n")
    _run(["--data", str(outside), "--out", "o"])
    tags = _stage_runs()["stage"].data.tags
    assert tags[f"in.{outside}"] == hashlib.md5(b"x\n").hexdigest()


def test_parent_run_is_named_after_commit_and_carries_changed_params(project):
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], cwd=project, check=True)
    subprocess.run([*git, "add", "params.yaml"], cwd=project, check=True)
    subprocess.run([*git, "commit", "-qm", "p"], cwd=project, check=True)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project, capture_output=True,
                            text=True, check=True).stdout.strip()  # fmt: skip
    (project / "params.yaml").write_text("seed: 7\nknobs: {threshold: 0.9}\n")
    _run(["--data", "in.jsonl", "--out", "o"])
    parent = _stage_runs()["repro"]
    assert parent.info.run_name.startswith(commit[:8] + " ")
    assert parent.data.params == {"knobs.threshold": "0.9"}


def test_other_ranks_and_no_mlflow_log_nothing_and_write_no_metrics(project, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    _run(["--data", "in.jsonl", "--out", "o", "--metrics", "m1.json"])
    monkeypatch.setenv("RANK", "0")
    _run(["--data", "in.jsonl", "--out", "o", "--metrics", "m2.json", "--no-mlflow"])
    assert not (project / "m1.json").exists() and (project / "m2.json").exists()
    assert not (project.parent / "mlflow.db").exists()
