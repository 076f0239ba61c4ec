"""MLflow runs for pipeline stages, with lineage.

Every stage run is an MLflow run nested under one parent run per `dvc repro`
(see `lineage.repro_id`), so a whole pipeline execution is one row in the UI
that expands into its stages. Tags record the stage, the git commit and the
md5 of each input and output as DVC sees them: from a training run, search for
the run whose `out.<path>` tag equals the training run's `in.<path>` tag to find
the generation run that made the data.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from medinstruct_core import lineage

EXPERIMENT = "medinstruct"
TAG = "medinstruct"


def tracking_uri(root: Path) -> str:
    """MLFLOW_TRACKING_URI, else a sqlite store in the repo root (four slashes: absolute path)."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(root / 'mlflow.db').resolve()}"


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Nested config -> {"a.b.c": value} for MLflow params."""
    if isinstance(obj, BaseModel):
        obj = obj.model_dump(mode="json", by_alias=True)
    if isinstance(obj, Mapping):
        flat: dict[str, Any] = {}
        for key, value in obj.items():
            flat.update(flatten(value, f"{prefix}{key}."))
        return flat
    value = json.dumps(obj) if isinstance(obj, list | tuple) else obj
    return {prefix.rstrip("."): str(value)[:6000]}


def _experiment_id(mlflow: Any, root: Path) -> str:
    name = os.environ.get("MLFLOW_EXPERIMENT_NAME", EXPERIMENT)
    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    return str(mlflow.create_experiment(name, artifact_location=_artifact_location(root)))


def _artifact_location(root: Path) -> str | None:
    """Artifacts sit next to a sqlite store; a tracking server picks its own location."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        return (root / "mlruns").resolve().as_uri()
    if uri.startswith("sqlite:///"):
        return (Path(uri.removeprefix("sqlite:///")).resolve().parent / "mlruns").as_uri()
    return None


def _parent_run_id(mlflow: Any, experiment_id: str, group: str, commit: str) -> str:
    query = f"tags.`{TAG}.repro_id` = '{group}' and tags.`{TAG}.kind` = 'repro'"
    found = mlflow.search_runs(
        [experiment_id], filter_string=query, max_results=1, output_format="list"
    )
    if found:
        return str(found[0].info.run_id)
    client = mlflow.MlflowClient()
    run = client.create_run(
        experiment_id,
        run_name=f"repro {group.split('-')[1] if '-' in group else group}",
        tags={f"{TAG}.repro_id": group, f"{TAG}.kind": "repro", f"{TAG}.git_commit": commit},
    )
    client.set_terminated(run.info.run_id)
    return str(run.info.run_id)


class StageRun:
    """Thin handle over the active MLflow run; every method is safe to call repeatedly."""

    def __init__(self, mlflow: Any, root: Path, run_id: str) -> None:
        self._mlflow = mlflow
        self.root = root
        self.run_id = run_id

    def log_params(self, params: Mapping[str, Any] | BaseModel, prefix: str = "") -> None:
        flat = flatten(params, prefix)
        items = list(flat.items())
        for start in range(0, len(items), 90):  # MLflow caps a batch at 100 params
            self._mlflow.log_params(dict(items[start : start + 90]))

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Log every numeric leaf; nested keys are joined with '.' (`by_reason.duplicate`)."""
        self._mlflow.log_metrics(numeric_leaves(metrics), step=step)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        self._mlflow.set_tags(dict(tags))

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        path = Path(path)
        if path.is_dir():
            self._mlflow.log_artifacts(str(path), artifact_path=artifact_path or path.name)
        elif path.exists():
            self._mlflow.log_artifact(str(path), artifact_path=artifact_path)

    def log_dict(self, obj: Any, name: str) -> None:
        self._mlflow.log_dict(obj, name)

    def log_text(self, text: str, name: str) -> None:
        self._mlflow.log_text(text, name)

    def log_table(self, rows: list[dict[str, Any]], name: str) -> None:
        if rows:
            self._mlflow.log_table(data=rows_to_columns(rows), artifact_file=name)

    def log_jsonl_sample(self, rows: list[dict[str, Any]], name: str, limit: int = 50) -> None:
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows[:limit])
        self._mlflow.log_text(text, name)

    def record_outputs(self, paths: list[str]) -> None:
        """Tag the md5 of each output the way DVC will record it."""
        md5s = lineage.input_md5s(self.root, paths)
        self.set_tags({f"out.{path}": md5 for path, md5 in md5s.items()})


def numeric_leaves(obj: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in obj.items():
        if isinstance(value, Mapping):
            out.update(numeric_leaves(value, f"{prefix}{key}."))
        elif isinstance(value, int | float):  # bools count as 0/1
            out[f"{prefix}{key}"] = float(value)
    return out


def rows_to_columns(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    keys: list[str] = []
    for row in rows:
        keys.extend(k for k in row if k not in keys)
    return {k: [row.get(k) for row in rows] for k in keys}


@contextlib.contextmanager
def stage_run(
    stage: str,
    *,
    root: Path,
    config: Mapping[str, Any] | BaseModel | None = None,
    inputs: list[str] | None = None,
) -> Iterator[StageRun]:
    """Open the MLflow run of one stage, nested under this `dvc repro`'s parent run."""
    import mlflow  # deferred: ~1.7 s import, only for stage entry points

    mlflow.set_tracking_uri(tracking_uri(root))
    experiment_id = _experiment_id(mlflow, root)
    commit = lineage.git_commit(root)
    group = lineage.repro_id()
    parent = _parent_run_id(mlflow, experiment_id, group, commit)
    tags = {
        f"{TAG}.stage": stage,
        f"{TAG}.kind": "stage",
        f"{TAG}.repro_id": group,
        f"{TAG}.git_commit": commit,
        f"{TAG}.git_dirty": str(lineage.git_dirty(root)).lower(),
    }
    tags.update({f"in.{p}": md5 for p, md5 in lineage.input_md5s(root, inputs or []).items()})
    with mlflow.start_run(
        experiment_id=experiment_id, run_name=stage, parent_run_id=parent, tags=tags
    ) as run:
        handle = StageRun(mlflow, root, run.info.run_id)
        if config is not None:
            handle.log_params(config)
            handle.log_dict(
                config.model_dump(mode="json", by_alias=True)
                if isinstance(config, BaseModel)
                else dict(config),
                "config.json",
            )
        yield handle


def scratch_dir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="medinstruct-")
