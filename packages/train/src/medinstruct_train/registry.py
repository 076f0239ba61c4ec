"""The student in the MLflow Model Registry: log, register, and promote a champion.

`log_student` logs the merged student as an MLflow *pyfunc* model: the weights
and tokenizer as an artifact plus `StudentModel`, which renders the project's
Alpaca prompt (medinstruct_train.prompting) before generating, so a served
model answers `{"instruction": ..., "input": ...}` exactly as evaluation
prompts it. A pyfunc (not mlflow.transformers) because the prompt template is
part of the model: a bare text-generation pipeline would leave every client to
re-implement it. The LoRA adapter is logged next to it as a run artifact.

Each logged student becomes a version of `medinstruct-student`, tagged with the
git commit, the training data md5 and the generation run ids, so a version
leads back to the data and the runs that produced it.

`apply_decision` records the evaluate stage's champion-vs-challenger decision:
evaluation scores the champion on the same items with the same judge, and the
alias moves only when the paired difference's CI lower bound is above 0; the
decision and its numbers go on the version as tags. (`promote_champion`, the
older rule comparing a win rate with the champion's recorded one from another
run, is kept for callers that have no paired comparison.)

    mlflow models serve -m models:/medinstruct-student@champion --env-manager local
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import mlflow.pyfunc

from medinstruct_train.artifacts import ModelDirError, library_versions
from medinstruct_train.loading import ADAPTER_SUBDIR, adapter_dir, has_weights

MODEL_NAME = "medinstruct-student"
CHAMPION = "champion"
ARTIFACT = "student"
DEFAULT_MAX_NEW_TOKENS = 128


class StudentModel(mlflow.pyfunc.PythonModel):  # type: ignore[name-defined,misc]
    """pyfunc: DataFrame of instruction[, input] -> one answer string per row (greedy by default)."""

    def load_context(self, context: Any) -> None:
        from medinstruct_train.loading import load_model

        self.model, self.tokenizer = load_model(context.artifacts[ARTIFACT])

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        """Answers in row order. No type hints on purpose: MLflow would derive a second,
        conflicting schema from them; the logged `signature()` is the contract."""
        params = params or {}
        rows = _records(model_input)
        return [self._answer(row, params) for row in rows]

    def _answer(self, row: dict[str, Any], params: dict[str, Any]) -> str:
        import torch

        from medinstruct_train.prompting import format_prompt

        prompt = format_prompt(str(row.get("instruction") or ""), str(row.get("input") or ""))
        encoded = self.tokenizer(prompt, return_tensors="pt").to(self.model.device)
        temperature = float(params.get("temperature", 0.0))
        kwargs = {"do_sample": True, "temperature": temperature} if temperature > 0 else {}
        with torch.inference_mode():
            out = self.model.generate(
                **encoded,
                max_new_tokens=int(params.get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS)),
                pad_token_id=self.tokenizer.pad_token_id,
                **({"do_sample": False} | kwargs),
            )
        answer = out[0, encoded["input_ids"].shape[1] :]
        return self.tokenizer.decode(answer, skip_special_tokens=True).strip()


def _records(model_input: Any) -> list[dict[str, Any]]:
    """DataFrame, list of dicts or one dict -> list of dicts."""
    if hasattr(model_input, "to_dict"):
        return model_input.to_dict(orient="records")
    if isinstance(model_input, dict):
        return [model_input]
    return list(model_input)


def signature() -> Any:
    """instruction (required), input (optional) -> answer; max_new_tokens and temperature as params."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

    return ModelSignature(
        inputs=Schema(
            [ColSpec("string", "instruction"), ColSpec("string", "input", required=False)]
        ),
        outputs=Schema([ColSpec("string")]),
        params=ParamSchema(
            [
                ParamSpec("max_new_tokens", "long", DEFAULT_MAX_NEW_TOKENS),
                ParamSpec("temperature", "double", 0.0),
            ]
        ),
    )


def input_example() -> Any:
    import pandas as pd

    frame = pd.DataFrame([{"instruction": "Name two symptoms of anaemia.", "input": ""}])
    return frame, {"max_new_tokens": 8}


def materialize(student_dir: Path, staging: Path) -> Path:
    """A directory with the merged model + tokenizer only (what the pyfunc loads).

    A merged student is hard-linked (copied across filesystems) without its
    adapter; an adapter-only student is merged here.
    """
    target = staging / ARTIFACT
    if has_weights(student_dir):
        shutil.copytree(
            student_dir, target, ignore=shutil.ignore_patterns(ADAPTER_SUBDIR),
            copy_function=_link_or_copy,
        )  # fmt: skip
        return target
    if adapter_dir(student_dir) is None:
        raise ModelDirError(f"{student_dir}: neither merged weights nor {ADAPTER_SUBDIR}/ found")
    from medinstruct_train.loading import load_model

    model, tokenizer = load_model(student_dir)
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    return target


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def pip_requirements() -> list[str]:
    """Pinned from this environment: skips MLflow's slow requirement inference."""
    return [f"{name}=={version}" for name, version in sorted(library_versions().items())]


@dataclass(frozen=True)
class StudentVersion:
    name: str
    version: str
    run_id: str
    model_uri: str


def version_tags(
    git_commit: str | None, data_md5: str | None, generation_run_ids: Sequence[str], run_id: str
) -> dict[str, str]:
    """What leads a version back to its code, data and the runs that generated the data."""
    tags = {"train_run_id": run_id, "generation_run_ids": ",".join(generation_run_ids)}
    if git_commit:
        tags["git_commit"] = git_commit
    if data_md5:
        tags["train_data_md5"] = data_md5
    return tags


def log_student(
    student_dir: str | Path,
    *,
    run_id: str | None = None,
    name: str = MODEL_NAME,
    git_commit: str | None = None,
    data_md5: str | None = None,
    generation_run_ids: Sequence[str] = (),
) -> StudentVersion:
    """Log the student as a pyfunc model in `run_id` (or the active run) and register a version."""
    student_dir = Path(student_dir)
    active = mlflow.active_run()
    reuse = active is not None and run_id in (None, active.info.run_id)
    with (
        _null() if reuse else mlflow.start_run(run_id=run_id, run_name="register_student"),
        tempfile.TemporaryDirectory(prefix="student-", dir=student_dir.parent) as tmp,
    ):
        run = mlflow.active_run()
        assert run is not None  # started above, or the caller's
        info = mlflow.pyfunc.log_model(
            name=ARTIFACT,
            python_model=StudentModel(),
            artifacts={ARTIFACT: str(materialize(student_dir, Path(tmp)))},
            signature=signature(),
            input_example=input_example(),
            pip_requirements=pip_requirements(),
            registered_model_name=name,
        )
        if (adapter := adapter_dir(student_dir)) is not None:
            mlflow.log_artifacts(str(adapter), artifact_path="adapter")
    version = str(info.registered_model_version)
    client = mlflow.MlflowClient()
    for key, value in version_tags(
        git_commit, data_md5, generation_run_ids, run.info.run_id
    ).items():
        client.set_model_version_tag(name, version, key, value)
    return StudentVersion(name, version, run.info.run_id, f"models:/{name}/{version}")


def _null() -> Any:
    import contextlib

    return contextlib.nullcontext()


@dataclass(frozen=True)
class Promotion:
    promoted: bool
    reason: str
    previous: str | None


def current_champion(client: Any, name: str) -> Any | None:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None


def decide(
    version: str,
    metric: str,
    value: float,
    ci: tuple[float, float],
    champion: Any | None,
    higher_is_better: bool = True,
) -> tuple[bool, str]:
    """(promote?, why). Promote only if the champion's score lies outside the candidate's CI."""
    low, high = ci
    mine = f"v{version} {metric} {value:.4f} (CI [{low:.4f}, {high:.4f}])"
    if champion is None:
        return True, f"{mine}: first champion"
    if str(champion.version) == str(version):
        return False, f"{mine}: already the champion"
    recorded = champion.tags.get(f"eval.{metric}")
    if recorded is None:
        return False, f"{mine}: champion v{champion.version} has no eval.{metric} tag to compare"
    theirs = float(recorded)
    beats = low > theirs if higher_is_better else high < theirs
    bound = "lower" if higher_is_better else "upper"
    verdict = "beats" if beats else "does not beat"
    return beats, (
        f"{mine} {verdict} champion v{champion.version} ({theirs:.4f}): "
        f"CI {bound} bound {low if higher_is_better else high:.4f} vs {theirs:.4f}"
    )


def promote_champion(
    version: str | int,
    metric: str,
    value: float,
    ci: tuple[float, float],
    *,
    name: str = MODEL_NAME,
    higher_is_better: bool = True,
) -> Promotion:
    """Record the score on the version; move `champion` to it only if it beats the champion beyond its CI."""
    client = mlflow.MlflowClient()
    version = str(version)
    for suffix, number in (("", value), (".ci_low", ci[0]), (".ci_high", ci[1])):
        client.set_model_version_tag(name, version, f"eval.{metric}{suffix}", f"{number:.6g}")
    champion = current_champion(client, name)
    promoted, reason = decide(version, metric, value, ci, champion, higher_is_better)
    client.set_model_version_tag(name, version, "champion.decision", reason)
    previous = None if champion is None else str(champion.version)
    if promoted:
        client.set_registered_model_alias(name, CHAMPION, version)
        client.update_model_version(name, version, description=f"champion: {reason}")
        if previous is not None:
            client.set_model_version_tag(name, previous, "champion.replaced_by", version)
    return Promotion(promoted, reason, previous)


def register_student(
    student_dir: Path, *, root: Path, data_name: str, data_md5: str
) -> StudentVersion:
    """Log and register the student from inside the train stage's MLflow run, tagged with
    the commit, the training data's md5, the runs that generated that data, and the
    student directory's own DVC md5 (how `evaluate` finds the version it scored)."""
    from medinstruct_core import lineage
    from medinstruct_core.tracking import upstream_runs

    version = log_student(
        student_dir,
        git_commit=lineage.git_commit(root),
        data_md5=data_md5,
        generation_run_ids=upstream_runs(root, data_name, data_md5),
    )
    student_md5 = lineage.dir_md5(student_dir)
    mlflow.MlflowClient().set_model_version_tag(
        version.name, version.version, "student_md5", student_md5
    )
    return version


def version_for(student_md5: str, name: str = MODEL_NAME) -> str | None:
    """The registered version whose student directory has this md5, if any."""
    versions = mlflow.MlflowClient().search_model_versions(f"name = '{name}'")
    matching = [v for v in versions if v.tags.get("student_md5") == student_md5]
    return max(matching, key=lambda v: int(v.version)).version if matching else None


def apply_decision(
    version: str | int,
    *,
    promote: bool,
    reason: str,
    numbers: Mapping[str, float | int | None],
    name: str = MODEL_NAME,
) -> Promotion:
    """Tag the version with the decision and its numbers (`eval.<key>`); move `champion`
    to it when `promote`, and mark the version it replaces."""
    client = mlflow.MlflowClient()
    version = str(version)
    for key, value in numbers.items():
        if value is not None:
            client.set_model_version_tag(name, version, f"eval.{key}", f"{value:.6g}")
    client.set_model_version_tag(name, version, "champion.decision", reason)
    client.set_model_version_tag(name, version, "champion.promoted", str(promote).lower())
    champion = current_champion(client, name)
    previous = None if champion is None else str(champion.version)
    if promote and previous != version:
        client.set_registered_model_alias(name, CHAMPION, version)
        client.update_model_version(name, version, description=f"champion: {reason}")
        if previous is not None:
            client.set_model_version_tag(name, previous, "champion.replaced_by", version)
    return Promotion(promote and previous != version, reason, previous)
