"""Which models are on the leaderboard, resolved to something that can answer.

`evaluate.candidates` lists them (`config.CandidateConfig`); each resolves to a
`Candidate` of one of three kinds, and the kind decides how it answers:

- `local`: a transformers model directory, answered in-process (answer.py) and
  scored on multiple choice by lm-eval's `hf` model;
- `gguf`: a GGUF file, served by llama.cpp and answered through the one LLM
  client (remote.py); multiple choice through a llama.cpp server that returns
  prompt log-probabilities (mcq_remote.py);
- `endpoint`: any OpenAI-compatible server, through the one LLM client; multiple
  choice only when it returns log-probabilities.

MLflow model URIs and hub ids are downloaded once into `evaluate.candidate_cache`
and then count as local. An alias (`models:/medinstruct-student@champion`) is
pinned to the version it points at first, so the cache never serves a moved alias.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from medinstruct_core.cli import StageFailed
from medinstruct_eval.answer import resolve_model_dir
from medinstruct_eval.config import CandidateConfig, PromptFormat
from medinstruct_train.artifacts import ModelDirError

Kind = Literal["local", "gguf", "endpoint"]
MLFLOW_SCHEMES = ("models:/", "runs:/")
_HUB_ID = re.compile(r"^[\w.\-]+/[\w.\-]+$")
COMPLETE = ".complete"  # marks a finished download (a killed one is fetched again)


class CandidateError(StageFailed):
    """A candidate cannot be found or loaded; the message names it and its source."""


@dataclass(frozen=True)
class Candidate:
    """A model ready to answer: where it lives and how it is prompted."""

    name: str
    kind: Kind
    template: PromptFormat
    source: str  # how answers.jsonl and the report name it (path, URI or URL)
    path: Path | None = None
    endpoint: str | None = None
    model_name: str | None = None
    api_key_env: str = "OPENAI_API_KEY"


def resolve_candidates(
    configs: Sequence[CandidateConfig],
    pipeline: Mapping[str, Path],
    *,
    cache_dir: Path,
    lineage: Callable[[Path], str] = str,
) -> list[Candidate]:
    """Every configured candidate, resolved before anything loads (fail fast, by name)."""
    return [resolve_candidate(c, pipeline, cache_dir=cache_dir, lineage=lineage) for c in configs]


def resolve_candidate(
    cfg: CandidateConfig,
    pipeline: Mapping[str, Path],
    *,
    cache_dir: Path,
    lineage: Callable[[Path], str] = str,
) -> Candidate:
    if cfg.endpoint:
        return Candidate(cfg.name, "endpoint", cfg.template, f"{cfg.endpoint} ({cfg.model_name})",
                         endpoint=cfg.endpoint.rstrip("/"), model_name=cfg.model_name,
                         api_key_env=cfg.api_key_env)  # fmt: skip
    if cfg.is_pipeline_model:
        if cfg.name not in pipeline:
            raise CandidateError(f"candidate {cfg.name!r}: the stage was given no {cfg.name} model")
        path, source = pipeline[cfg.name], lineage(pipeline[cfg.name])
    else:
        assert cfg.model is not None  # the config's validator guarantees model or endpoint
        path, source = locate_model(cfg.model, cache_dir), cfg.model
    if path.is_file() and path.suffix.lower() == ".gguf":
        return Candidate(cfg.name, "gguf", cfg.template, source, path=path)
    try:
        return Candidate(cfg.name, "local", cfg.template, source, path=resolve_model_dir(path))
    except ModelDirError as exc:  # say which candidate it was
        raise CandidateError(f"candidate {cfg.name!r} ({source}): {exc}") from exc


def locate_model(spec: str, cache_dir: Path) -> Path:
    """A local path for `spec`: as given, downloaded from MLflow, or from the hub."""
    if spec.startswith(MLFLOW_SCHEMES):
        return download_mlflow_model(spec, cache_dir)
    path = Path(spec).expanduser()
    if path.exists():
        return path
    if _HUB_ID.match(spec):
        return download_hub_model(spec, cache_dir)
    raise CandidateError(f"model {spec!r}: no such file or directory (nor an MLflow URI or hub id)")


def pin_mlflow_uri(uri: str) -> str:
    """`models:/name@alias` -> `models:/name/<version>`; other URIs are already fixed."""
    body = uri.removeprefix("models:/")
    if not uri.startswith("models:/") or "@" not in body:
        return uri
    import mlflow
    from mlflow.exceptions import MlflowException

    name, alias = body.split("@", 1)
    try:
        version = mlflow.MlflowClient().get_model_version_by_alias(name, alias).version
    except MlflowException as exc:
        raise CandidateError(f"model {uri!r}: no version has that alias ({exc.message})") from exc
    return f"models:/{name}/{version}"


def _cache_entry(cache_dir: Path, kind: str, key: str) -> Path:
    return cache_dir / kind / re.sub(r"[^\w.\-]+", "_", key).strip("_")


def download_mlflow_model(uri: str, cache_dir: Path) -> Path:
    """Download a logged model once; returns the model directory (or GGUF) inside it."""
    pinned = pin_mlflow_uri(uri)
    target = _cache_entry(cache_dir, "mlflow", pinned)
    if not (target / COMPLETE).is_file():
        import mlflow.artifacts
        from mlflow.exceptions import MlflowException

        def fetch(tmp: Path) -> None:
            try:
                mlflow.artifacts.download_artifacts(artifact_uri=pinned, dst_path=str(tmp))
            except MlflowException as exc:
                raise CandidateError(f"model {uri!r}: download failed ({exc.message})") from exc

        _download_into(target, fetch)
    return model_inside(target, uri)


def download_hub_model(repo_id: str, cache_dir: Path) -> Path:
    """A hub snapshot (only when online: HF_HUB_OFFLINE=1 makes this fail with the reason)."""
    target = _cache_entry(cache_dir, "hub", repo_id)
    if not (target / COMPLETE).is_file():
        from huggingface_hub import snapshot_download

        def fetch(tmp: Path) -> None:
            try:
                snapshot_download(repo_id, local_dir=str(tmp))
            except Exception as exc:  # offline, unknown repo, gated: all mean "cannot use it"
                raise CandidateError(f"model {repo_id!r}: hub download failed ({exc})") from exc

        _download_into(target, fetch)
    return model_inside(target, repo_id)


def _download_into(target: Path, fetch: Callable[[Path], None]) -> None:
    """Fetch into a scratch folder beside `target`, then move it in whole."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".download-", dir=target.parent) as tmp:
        fetch(Path(tmp) / "model")
        (Path(tmp) / "model" / COMPLETE).write_text("", encoding="utf-8")
        shutil.rmtree(target, ignore_errors=True)
        (Path(tmp) / "model").rename(target)


def model_inside(root: Path, what: str) -> Path:
    """The model directory inside a download: the shallowest folder holding weights
    (`config.json`) or a LoRA adapter, else the one GGUF file (an MLflow pyfunc keeps
    the student under artifacts/student/)."""
    folders = sorted(
        (p.parent for p in root.rglob("config.json")), key=lambda p: (len(p.parts), str(p))
    )
    adapters = sorted(p.parent.parent for p in root.rglob("adapter/adapter_config.json"))
    if folders or adapters:
        return (folders or adapters)[0]
    ggufs = sorted(root.rglob("*.gguf"))
    if len(ggufs) == 1:
        return ggufs[0]
    raise CandidateError(f"model {what!r}: no model directory or single GGUF inside {root}")
