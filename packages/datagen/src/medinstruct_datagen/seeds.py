"""Load clinician seed tasks, from our JSONL or from the public AlpaCare seed file.

The seeds are the only human-written input to Self-Instruct, so a bad seed
silently shapes thousands of generated tasks. The loader is therefore strict:
every record is checked field by field, and the error names the file, the
record (0-based index in a JSON list, line number in JSONL) and the field.

Three layouts are accepted, detected by content rather than file name:

* our JSONL: ``{"type", "topic", "view", "difficulty": 1..5, "instruction", "input": ""}``
* AlpaCare ``med_seed.json``: a JSON list of objects whose fields are all strings,
  ``difficulty`` is ``"1"``..``"5"`` and an absent input is ``"<noinput>"``
* the same AlpaCare objects written one per line (JSONL)
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from medinstruct_core.io import DataError, format_validation_error
from medinstruct_core.records import Task

REQUIRED_FIELDS = ("type", "topic", "view", "difficulty", "instruction")
OPTIONAL_FIELDS = ("input",)
# Bookkeeping keys seen in seed files derived from Self-Instruct; they carry no
# task content, so they are dropped. Anything else is more likely a typo of a
# real field ("instrucion") than harmless metadata, so it is an error.
ALLOWED_EXTRA_KEYS = frozenset({"id", "name"})
_STRING_FIELDS = ("type", "topic", "view", "instruction", "input")


def load_seed_tasks(path: str | Path) -> list[Task]:
    """Read seed tasks from a JSON list or JSONL file; raise DataError on any bad record."""
    path = Path(path)
    text = _read_text(path)
    stripped = text.lstrip()
    if not stripped:
        raise DataError(f"{path}: empty seed file (no records)")
    if stripped.startswith("["):
        records = list(_json_list_records(path, text))
    else:
        records = list(_jsonl_records(path, text))
    if not records:
        raise DataError(f"{path}: seed file holds no records")
    return [_to_task(path, where, obj) for where, obj in records]


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        # utf-8-sig: files saved by spreadsheet tools often start with a BOM.
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def _json_list_records(path: Path, text: str) -> Iterator[tuple[str, Any]]:
    """Yield ("record i", obj) for a file holding one JSON list."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{path}: invalid JSON at line {exc.lineno} column {exc.colno} ({exc.msg})"
        ) from exc
    if not isinstance(data, list):
        raise DataError(f"{path}: top level must be a JSON list, got {type(data).__name__}")
    for index, obj in enumerate(data):
        yield f"record {index}", obj


def _jsonl_records(path: Path, text: str) -> Iterator[tuple[str, Any]]:
    """Yield ("line n", obj) for each non-blank line of a JSONL file."""
    # Not splitlines(): it also splits on U+2028 and friends, which may sit raw
    # inside a JSON string written with ensure_ascii=False.
    lines = text.split("\n")
    _reject_pretty_printed_object(path, text, lines)
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: line {lineno}: invalid JSON ({exc.msg})") from exc
        yield f"line {lineno}", obj


def _reject_pretty_printed_object(path: Path, text: str, lines: list[str]) -> None:
    """A multi-line file that parses as one JSON value is not JSONL; say so plainly."""
    if sum(1 for line in lines if line.strip()) < 2:
        return
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return
    raise DataError(
        f"{path}: top level must be a JSON list or one JSON object per line, "
        f"got a single multi-line {type(data).__name__}"
    )


def _to_task(path: Path, where: str, obj: Any) -> Task:
    """Check one raw record field by field, then build the Task."""
    if not isinstance(obj, dict):
        raise DataError(f"{path}: {where}: expected a JSON object, got {type(obj).__name__}")
    _check_keys(path, where, obj)
    for field in _STRING_FIELDS:
        if field in obj and not isinstance(obj[field], str):
            got = type(obj[field]).__name__
            raise DataError(f"{path}: {where}: field '{field}': expected a string, got {got}")
    _check_difficulty(path, where, obj["difficulty"])
    fields = {key: obj[key] for key in (*REQUIRED_FIELDS, *OPTIONAL_FIELDS) if key in obj}
    try:
        return Task.model_validate(fields)
    except ValidationError as exc:
        raise DataError(format_validation_error(path, where, exc)) from exc


def _check_keys(path: Path, where: str, obj: dict[str, Any]) -> None:
    missing = [key for key in REQUIRED_FIELDS if key not in obj]
    if missing:
        raise DataError(f"{path}: {where}: field '{missing[0]}': missing")
    known = {*REQUIRED_FIELDS, *OPTIONAL_FIELDS, *ALLOWED_EXTRA_KEYS}
    unknown = sorted(key for key in obj if key not in known)
    if unknown:
        allowed = ", ".join(sorted(ALLOWED_EXTRA_KEYS))
        raise DataError(
            f"{path}: {where}: field '{unknown[0]}': unknown key (allowed extras: {allowed})"
        )


def _check_difficulty(path: Path, where: str, value: Any) -> None:
    """Accept an int 1..5 (ours) or a digit string "1".."5" (AlpaCare); nothing else."""
    if isinstance(value, bool):
        ok = False
    elif isinstance(value, int):
        ok = 1 <= value <= 5
    elif isinstance(value, str):
        ok = value.strip() in {"1", "2", "3", "4", "5"}
    else:
        ok = False
    if not ok:
        raise DataError(f"{path}: {where}: field 'difficulty': expected 1-5, got {value!r}")


def seed_stats(tasks: Iterable[Task]) -> dict[str, float]:
    """Flat composition counts of a seed set, ready for `mlflow.log_metrics`.

    Flat numeric keys (not nested dicts) because MLflow metrics are scalars;
    the same dict doubles as a quick sanity check in tests and reports.
    """
    tasks = list(tasks)
    difficulties = Counter(task.difficulty for task in tasks)
    input_words = [len(task.input.split()) for task in tasks if task.input]
    stats: dict[str, float] = {
        "n": len(tasks),
        "n_types": len({task.type for task in tasks}),
        "n_topics": len({task.topic for task in tasks}),
        "n_views": len({task.view for task in tasks}),
        "input_share": len(input_words) / len(tasks) if tasks else 0.0,
        "input_words_min": min(input_words, default=0),
        "input_words_max": max(input_words, default=0),
    }
    for level in range(1, 6):
        stats[f"difficulty_{level}"] = difficulties.get(level, 0)
    return stats
