"""Read what a pipeline run left in the workspace: dvc.lock, params.yaml, metrics/*.json.

The cards state provenance, so every number in them is read from the files the
stages wrote, never recomputed. A file that is missing is reported as missing
(the card says "not recorded"); a file that is present but malformed is an
error naming the file and the field, because a card built from it would lie.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict

from medinstruct_core.io import iter_jsonl_dicts
from medinstruct_core.lineage import git_commit, git_dirty, path_md5
from medinstruct_core.params import read_params


class PublishError(ValueError):
    """The workspace cannot back a truthful export. The message names the file and field."""


class LockedOut(BaseModel):
    """One out of one stage, as dvc.lock records it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stage: str
    path: str
    md5: str
    size: int | None = None
    nfiles: int | None = None


class Workspace(BaseModel):
    """The project root and the stage files the exports read, all derived from `root`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    root: Path

    def path(self, relpath: str) -> Path:
        return self.root / relpath

    def params(self) -> dict[str, Any]:
        path = self.path("params.yaml")
        return read_params(path) if path.exists() else {}

    def metrics(self, stage: str) -> dict[str, Any] | None:
        """metrics/<stage>.json, or None when that stage has not run here."""
        return read_json_object(self.path(f"metrics/{stage}.json"))

    def lock(self) -> DvcLock:
        return DvcLock.read(self.path("dvc.lock"))

    def commit(self) -> str:
        """The git commit the export was made from ("" outside git), flagged when dirty."""
        commit = git_commit(self.root)
        if commit == "unknown":
            return ""
        return f"{commit} (with uncommitted changes)" if git_dirty(self.root) else commit


def read_json_object(path: Path) -> dict[str, Any] | None:
    """A JSON object from `path`; None when absent, PublishError when not an object."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise PublishError(f"{path}: invalid JSON ({exc.msg}, line {exc.lineno})") from exc
    if not isinstance(data, dict):
        raise PublishError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


class DvcLock(BaseModel):
    """The parts of dvc.lock the cards cite: each out's md5 and each stage's params."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str
    outs: dict[str, LockedOut]
    deps: dict[str, str]
    params: dict[str, dict[str, Any]]

    @classmethod
    def read(cls, path: Path) -> DvcLock:
        """Parse `path`; an absent lock (the pipeline never ran under DVC) is empty."""
        if not path.is_file():
            return cls(source=str(path), outs={}, deps={}, params={})
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise PublishError(f"{path}: not valid YAML: {exc}") from exc
        stages = raw.get("stages", {}) if isinstance(raw, dict) else None
        if not isinstance(stages, dict):
            raise PublishError(f"{path}: field 'stages': expected a mapping")
        outs: dict[str, LockedOut] = {}
        deps: dict[str, str] = {}
        params: dict[str, dict[str, Any]] = {}
        for name, stage in stages.items():
            outs.update(_entries(path, name, stage, "outs"))
            deps.update({p: e.md5 for p, e in _entries(path, name, stage, "deps").items()})
            params[name] = _stage_params(stage)
        return cls(source=str(path), outs=outs, deps=deps, params=params)

    def out(self, relpath: str) -> LockedOut | None:
        return self.outs.get(relpath)

    def md5(self, relpath: str) -> str | None:
        """The md5 dvc.lock records for `relpath`: as an out, else as a dep (e.g. the seeds)."""
        out = self.outs.get(relpath)
        return out.md5 if out is not None else self.deps.get(relpath)

    def param(self, stage: str, key: str) -> Any | None:
        """The value of params key `key` (e.g. "llm.teacher") the locked `stage` ran with."""
        return self.params.get(stage, {}).get(key)


def _entries(path: Path, name: str, stage: Any, field: str) -> dict[str, LockedOut]:
    """A stage's `outs` or `deps` list, each entry checked for the fields the cards cite."""
    entries = stage.get(field, []) if isinstance(stage, dict) else None
    if not isinstance(entries, list):
        raise PublishError(f"{path}: stage '{name}': field '{field}': expected a list")
    found: dict[str, LockedOut] = {}
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or "path" not in entry or "md5" not in entry:
            raise PublishError(f"{path}: stage '{name}': {field}[{index}]: needs 'path' and 'md5'")
        fields = {k: entry.get(k) for k in ("path", "md5", "size", "nfiles")}
        found[str(entry["path"])] = LockedOut(stage=name, **fields)
    return found


def _stage_params(stage: Any) -> dict[str, Any]:
    """Every params file's keys merged (the project has one: params.yaml)."""
    merged: dict[str, Any] = {}
    files = stage.get("params", {}) if isinstance(stage, dict) else {}
    for keys in (files or {}).values():
        if isinstance(keys, Mapping):
            merged.update(keys)
    return merged


class FileFact(BaseModel):
    """A data file as the cards cite it: its md5 now, and what dvc.lock says it should be."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    md5: str | None
    locked_md5: str | None
    rows: int | None = None

    @property
    def matches_lock(self) -> bool:
        return self.md5 is not None and self.md5 == self.locked_md5


def file_fact(ws: Workspace, relpath: str, lock: DvcLock, count_rows: bool = False) -> FileFact:
    """md5 (DVC's: a directory's is its manifest hash) and, for JSONL, the row count."""
    path = ws.path(relpath)
    rows = count_jsonl(path) if count_rows and path.is_file() else None
    return FileFact(path=relpath, md5=path_md5(path), locked_md5=lock.md5(relpath), rows=rows)


def count_jsonl(path: Path) -> int:
    """Rows of a JSONL file (malformed lines raise DataError naming the line)."""
    return sum(1 for _ in iter_jsonl_dicts(path))


def require_locked(fact: FileFact, allow_unlocked: bool) -> None:
    """Refuse to publish a file that differs from the one dvc.lock records.

    A card whose md5 column disagrees with the uploaded bytes is worse than no
    card: with `allow_unlocked` the export goes on and the card says so instead.
    """
    if allow_unlocked or fact.locked_md5 is None or fact.matches_lock:
        return
    raise PublishError(
        f"{fact.path}: md5 {fact.md5} differs from dvc.lock ({fact.locked_md5}); "
        "run `dvc repro` (or `dvc checkout`) first, or pass --allow-unlocked"
    )


__all__ = [
    "DvcLock",
    "FileFact",
    "LockedOut",
    "PublishError",
    "Workspace",
    "count_jsonl",
    "file_fact",
    "read_json_object",
    "require_locked",
]
