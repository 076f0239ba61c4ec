import pytest

from medinstruct_core.tracking import flatten, stage_run


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("MEDINSTRUCT_REPRO_ID", "dvc-1-1")
    (tmp_path / "in.jsonl").write_text('{"a": 1}\n')
    return tmp_path


def test_stage_runs_of_one_repro_nest_under_one_parent_with_lineage(store):
    import mlflow

    with stage_run(
        "curate",
        root=store,
        config={"rouge_threshold": 0.7, "filters": {"min": 3}},
        inputs=["in.jsonl"],
    ) as run:
        run.log_metrics({"kept": 5})
        (store / "out.jsonl").write_text("x\n")
        run.record_outputs(["out.jsonl"])
    with stage_run("validate", root=store, inputs=["out.jsonl"]):
        pass
    runs = mlflow.search_runs(search_all_experiments=True, output_format="list")
    parents = [r for r in runs if r.data.tags.get("medinstruct.kind") == "repro"]
    stages = {
        r.data.tags["medinstruct.stage"]: r
        for r in runs
        if r.data.tags.get("medinstruct.kind") == "stage"
    }
    assert len(parents) == 1 and set(stages) == {"curate", "validate"}
    assert {r.data.tags["mlflow.parentRunId"] for r in stages.values()} == {parents[0].info.run_id}
    curate, validate = stages["curate"], stages["validate"]
    assert curate.data.params == {"rouge_threshold": "0.7", "filters.min": "3"}
    assert curate.data.metrics == {"kept": 5.0}
    # the downstream run's input md5 is the upstream run's output md5: that is the lineage link
    assert validate.data.tags["in.out.jsonl"] == curate.data.tags["out.out.jsonl"]
    import hashlib

    assert curate.data.tags["in.in.jsonl"] == hashlib.md5(b'{"a": 1}\n').hexdigest()


def test_flatten_nested_config():
    assert flatten({"a": {"b": 1, "c": [1, 2]}, "d": None}) == {
        "a.b": "1",
        "a.c": "[1, 2]",
        "d": "None",
    }
