"""The MLflow lookup: the run whose `out.<path>` tag equals the published file's md5."""

from __future__ import annotations

from pathlib import Path

import pytest

from medinstruct_publish.provenance import mlflow_lookup, no_tags


def test_no_store_means_no_lookup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert mlflow_lookup(tmp_path) is no_tags


@pytest.mark.slow  # ~30 s on 2 cores: mlflow import and sqlite schema migrations
def test_finds_the_run_that_wrote_the_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    from medinstruct_core.tracking import tracking_uri

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    mlflow.set_tracking_uri(tracking_uri(tmp_path))
    out = "data/generated/instructions.jsonl"
    with mlflow.start_run() as old:
        mlflow.set_tags({f"out.{out}": "md5-old", "llm.teacher.kind": "embedded"})
    with mlflow.start_run() as new:
        mlflow.set_tags({f"out.{out}": "md5-new", "llm.teacher.kind": "remote"})
    lookup = mlflow_lookup(tmp_path)
    assert lookup is not no_tags
    found = lookup(out, "md5-old")
    assert (found["llm.teacher.kind"], found["mlflow.run_id"]) == ("embedded", old.info.run_id)
    assert lookup(out, "md5-new")["mlflow.run_id"] == new.info.run_id
    assert lookup(out, "md5-none") == {}
