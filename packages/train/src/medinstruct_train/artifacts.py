"""Model directories written atomically, with a JSON sidecar describing them.

A model directory is many files (weights, config, tokenizer), so the
single-file `atomic_open` of medinstruct_core is not enough: everything is
written into a hidden sibling directory that is renamed over the target only
when complete. DVC, or the next stage, never sees a half-written model.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from medinstruct_core.io import write_json, write_text

ADAPTER_CONFIG = "adapter_config.json"


class ModelDirError(ValueError):
    """A model directory is missing or lacks the files a stage needs."""


def replace_dir(staging: Path, target: Path) -> None:
    """Swap `staging` into place; a stale `target` is moved aside first, then deleted."""
    old: Path | None = None
    if target.exists():
        old = target.with_name(f".{target.name}.stale-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
    os.replace(staging, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_dir(target: str | Path) -> Iterator[Path]:
    """Yield an empty staging directory that becomes `target` only if the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(
        tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    )
    staging.chmod(0o755)  # mkdtemp makes it 0700; a model dir should be readable like any output
    try:
        yield staging
        replace_dir(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def write_sidecar(directory: Path, name: str, payload: dict[str, Any]) -> Path:
    path = directory / name
    write_json(path, payload)
    return path


def read_sidecar(directory: str | Path, name: str) -> dict[str, Any]:
    """Read a sidecar JSON; its absence means the directory was not made by this package."""
    path = Path(directory) / name
    if not path.is_file():
        raise ModelDirError(f"{directory}: missing {name}; was it written by medinstruct_train?")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ModelDirError(f"{path}: invalid JSON ({exc.msg})") from exc
    if not isinstance(data, dict):
        raise ModelDirError(f"{path}: expected a JSON object")
    return data


def sort_adapter_sets(model: Any, directory: str | Path) -> list[Path]:
    """Rewrite the saved adapter configs with the lists PEFT made from sets sorted.

    PEFT holds fields such as `target_modules` as Python sets and writes
    `list(the_set)`, whose order follows string hashing and so changes from one
    process to the next (PYTHONHASHSEED): two identical trainings gave different
    adapter_config.json files and DVC hashes.  Order means nothing in a set, so
    sorting those fields (and only those) makes the file a function of the
    training alone.  Returns the files rewritten, in PEFT's own JSON layout.
    """
    rewritten = []
    for name, config in (getattr(model, "peft_config", None) or {}).items():
        path = Path(directory) / ("" if name == "default" else name) / ADAPTER_CONFIG
        set_fields = _set_fields(config)
        if not set_fields or not path.is_file():
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        for field in set_fields:
            if isinstance(data.get(field), list):
                data[field] = sorted(data[field], key=str)
        write_text(path, json.dumps(data, indent=2, sort_keys=True))
        rewritten.append(path)
    return rewritten


def _set_fields(config: Any) -> list[str]:
    """Names of the dataclass fields of a PEFT config that currently hold sets."""
    if not dataclasses.is_dataclass(config):
        return []
    return [f.name for f in dataclasses.fields(config) if isinstance(getattr(config, f.name), set)]


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape a checkpoint, recorded next to it."""
    from importlib.metadata import PackageNotFoundError, version

    versions: dict[str, str] = {}
    for name in ("torch", "transformers", "trl", "peft", "accelerate"):
        with contextlib.suppress(PackageNotFoundError):
            versions[name] = version(name)
    return versions
