"""Atomic file output and validated JSONL input.

Outputs are written to a temporary file in the same directory and renamed into
place, so an interrupted stage never leaves a half-written file that a later
stage (or DVC) could read.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class DataError(ValueError):
    """A data file is malformed. The message names the file, record and field."""


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


@contextlib.contextmanager
def atomic_open(
    path: str | Path, mode: str = "w", encoding: str | None = "utf-8"
) -> Iterator[IO[Any]]:
    """Open a temporary sibling of `path`; rename it over `path` only on success."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual permissions
    binary = "b" in mode
    try:
        with os.fdopen(fd, mode, encoding=None if binary else encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text(path: str | Path, text: str) -> None:
    with atomic_open(path) as handle:
        handle.write(text)


def write_json(path: str | Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def write_jsonl(path: str | Path, rows: Iterable[BaseModel | dict[str, Any]]) -> int:
    """Write one JSON object per line, atomically. Returns the row count."""
    count = 0
    with atomic_open(path) as handle:
        for row in rows:
            obj = row.model_dump(mode="json") if isinstance(row, BaseModel) else row
            handle.write(json.dumps(obj, ensure_ascii=False) + "\n")
            count += 1
    return count


def format_validation_error(path: str | Path, where: str, err: ValidationError) -> str:
    problems = "; ".join(
        f"field '{'.'.join(str(p) for p in e['loc']) or '<record>'}': {e['msg']}"
        for e in err.errors()
    )
    return f"{path}: {where}: {problems}"


def iter_jsonl_dicts(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) for each non-blank line; malformed JSON raises DataError."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    with path.open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}: line {lineno}: invalid JSON ({exc.msg})") from exc
            if not isinstance(obj, dict):
                raise DataError(
                    f"{path}: line {lineno}: expected a JSON object, got {type(obj).__name__}"
                )
            yield lineno, obj


def read_jsonl(path: str | Path, model: type[M]) -> list[M]:
    """Read and validate a JSONL file into `model` instances."""
    rows: list[M] = []
    for lineno, obj in iter_jsonl_dicts(path):
        try:
            rows.append(model.model_validate(obj))
        except ValidationError as exc:
            raise DataError(format_validation_error(path, f"line {lineno}", exc)) from exc
    return rows
