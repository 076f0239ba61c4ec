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
import datetime
import json
import os
import tempfile
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from medinstruct_core import lineage

EXPERIMENT = "medinstruct"
TAG = "medinstruct"
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"


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
    """The experiment, marked for model training so the UI opens on the runs table
    (MLflow 3 opens untagged experiments on its GenAI overview)."""
    name = os.environ.get("MLFLOW_EXPERIMENT_NAME", EXPERIMENT)
    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        experiment_id = str(found.experiment_id)
        if found.tags.get(EXPERIMENT_KIND_TAG) != EXPERIMENT_KIND:
            mlflow.MlflowClient().set_experiment_tag(
                experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND
            )
        return experiment_id
    return str(
        mlflow.create_experiment(
            name,
            artifact_location=_artifact_location(root),
            tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND},
        )
    )


def _artifact_location(root: Path) -> str | None:
    """Artifacts sit next to a sqlite store; a tracking server picks its own location."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        return (root / "mlruns").resolve().as_uri()
    if uri.startswith("sqlite:///"):
        return (Path(uri.removeprefix("sqlite:///")).resolve().parent / "mlruns").as_uri()
    return None


def _parent_run_id(mlflow: Any, experiment_id: str, group: str, root: Path, commit: str) -> str:
    """The parent run of this `dvc repro`: found by its repro id, else created.

    It is named after the commit and the time it started, and carries the params
    that differ from the committed params.yaml (the default profile, or what a
    `dvc exp run -S` changed), so the runs table shows what each run was about.
    """
    query = f"tags.`{TAG}.repro_id` = '{group}' and tags.`{TAG}.kind` = 'repro'"
    found = mlflow.search_runs(
        [experiment_id], filter_string=query, max_results=1, output_format="list"
    )
    if found:
        return str(found[0].info.run_id)
    client = mlflow.MlflowClient()
    started = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")
    run = client.create_run(
        experiment_id,
        run_name=f"{commit[:8]} {started}",
        tags={f"{TAG}.repro_id": group, f"{TAG}.kind": "repro", f"{TAG}.git_commit": commit},
    )
    changed = lineage.params_changed(root)
    items = list(changed.items())
    for start in range(0, len(items), 90):  # MLflow caps a batch at 100 params
        client.log_batch(
            run.info.run_id,
            params=[mlflow.entities.Param(k, v) for k, v in items[start : start + 90]],
        )
    return str(run.info.run_id)


def _extend_parent(mlflow: Any, parent: str) -> None:
    """Stretch the parent run to end when this stage ends: it spans its stages."""
    mlflow.MlflowClient().set_terminated(parent, status="FINISHED")


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

    def record_outputs(self, paths: Sequence[str | Path]) -> None:
        """Tag the md5 of each output the way DVC will record it."""
        self.set_tags({f"out.{name}": md5 for name, md5 in _md5s(self.root, paths).items()})

    def log_inputs(
        self, paths: Sequence[str | Path], also_to: Sequence[str] = ()
    ) -> dict[str, str]:
        """Tag each input's md5 and log it as an MLflow dataset (the Dataset column):
        the lineage name is the dataset's name and source, DVC's md5 its digest.

        `also_to` names more runs that get the same datasets: the `dvc repro` parent,
        so its row in the runs table shows what the whole run read.
        """
        md5s = _md5s(self.root, paths)
        self.set_tags({f"in.{name}": md5 for name, md5 in md5s.items()})
        from mlflow.data.dataset_source_registry import resolve_dataset_source
        from mlflow.data.meta_dataset import MetaDataset
        from mlflow.entities import DatasetInput, InputTag
        from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

        inputs = []
        for name, md5 in md5s.items():
            with warnings.catch_warnings():  # "can be interpreted in multiple ways": a local file
                warnings.simplefilter("ignore")
                source = resolve_dataset_source(name)
            dataset = MetaDataset(source=source, name=name, digest=md5)  # type: ignore[abstract]
            context = [InputTag(key=MLFLOW_DATASET_CONTEXT, value="input")]
            inputs.append(DatasetInput(dataset._to_mlflow_entity(), tags=context))
        if inputs:
            client = self._mlflow.MlflowClient()
            for run_id in (self.run_id, *also_to):
                client.log_inputs(run_id=run_id, datasets=inputs)
        return md5s


def _md5s(root: Path, paths: Sequence[str | Path]) -> dict[str, str]:
    """{lineage name: DVC md5} for each existing path (relative paths are under root)."""
    names = {lineage.lineage_name(root / p, root): root / p for p in map(Path, paths)}
    return {name: md5 for name, md5 in ((n, lineage.path_md5(p)) for n, p in names.items()) if md5}


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
    inputs: Sequence[str | Path] = (),
) -> Iterator[StageRun]:
    """Open the MLflow run of one stage, nested under this `dvc repro`'s parent run.

    `config` is logged as params with dotted names (`<section>.<key>`) and as
    config.json; `inputs` are tagged with their md5 and logged as datasets.
    """
    import mlflow  # deferred: ~1.7 s import, only for stage entry points

    mlflow.set_tracking_uri(tracking_uri(root))
    experiment_id = _experiment_id(mlflow, root)
    commit = lineage.git_commit(root)
    group = lineage.repro_id()
    parent = _parent_run_id(mlflow, experiment_id, group, root, commit)
    tags = {
        f"{TAG}.stage": stage,
        f"{TAG}.kind": "stage",
        f"{TAG}.repro_id": group,
        f"{TAG}.git_commit": commit,
        f"{TAG}.git_dirty": str(lineage.git_dirty(root)).lower(),
    }
    try:
        with mlflow.start_run(
            experiment_id=experiment_id, run_name=stage, parent_run_id=parent, tags=tags
        ) as run:
            handle = StageRun(mlflow, root, run.info.run_id)
            handle.log_inputs(inputs, also_to=[parent])
            if config is not None:
                handle.log_params(config)
                handle.log_dict(to_plain(config), "config.json")
            yield handle
    finally:
        _extend_parent(mlflow, parent)


def to_plain(config: Mapping[str, Any] | BaseModel) -> Any:
    """JSON-ready form of a config that may hold pydantic models at any depth."""
    if isinstance(config, BaseModel):
        return config.model_dump(mode="json", by_alias=True)
    if isinstance(config, Mapping):
        return {k: to_plain(v) for k, v in config.items()}
    return config


def latest_stage_run(root: Path, stage: str) -> str:
    """The run id of the newest run of `stage` in this project's store ("" if none):
    how a later, manual step (the clinician review) links back to what it rates."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri(root))
    found = mlflow.search_runs(
        search_all_experiments=True,
        filter_string=f"tags.`{TAG}.stage` = '{stage}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
        output_format="list",
    )
    return str(found[0].info.run_id) if found else ""


def upstream_runs(root: Path, name: str, md5: str, depth: int = 4) -> list[str]:
    """Run ids of the stages that made `name` (with this md5), and of those that made
    their inputs, up to `depth` stages back: the lineage of a dataset or model."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri(root))
    found: list[str] = []
    frontier = [(name, md5)]
    for _ in range(depth):
        next_frontier = []
        for path, digest in frontier:
            for run in mlflow.search_runs(
                search_all_experiments=True,
                filter_string=f"tags.`out.{path}` = '{digest}'",
                order_by=["attributes.start_time DESC"],
                max_results=1,
                output_format="list",
            ):
                if run.info.run_id not in found:
                    found.append(run.info.run_id)
                    next_frontier += [
                        (k.removeprefix("in."), v)
                        for k, v in run.data.tags.items()
                        if k.startswith("in.")
                    ]
        frontier = next_frontier
    return found


def scratch_dir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="medinstruct-")


def runs_table_url(root: Path, base_url: str) -> str:
    """The UI address that opens the experiment on its runs table.

    MLflow 3.17's UI lets the browser, not the experiment, choose between its GenAI and
    its model-training views: the `workflowType` query parameter first, then a
    localStorage toggle that defaults to GenAI. The experiment tag alone therefore
    still lands a fresh browser on the GenAI overview; this link does not.
    """
    import mlflow

    mlflow.set_tracking_uri(tracking_uri(root))
    query = "?workflowType=machine_learning"
    found = mlflow.get_experiment_by_name(os.environ.get("MLFLOW_EXPERIMENT_NAME", EXPERIMENT))
    if found is None:  # nothing tracked yet: the experiments list, in the training view
        return f"{base_url.rstrip('/')}/#/experiments{query}"
    return f"{base_url.rstrip('/')}/#/experiments/{found.experiment_id}/runs{query}"


if __name__ == "__main__":  # python -m medinstruct_core.tracking [BASE_URL]: for `make ui`
    import sys

    base = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:5000"
    print(f"MLflow runs table: {runs_table_url(Path.cwd(), base)}")
