"""The few Markdown pieces both cards are made of (tables, numbers, md5 cells)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from medinstruct_publish.workspace import FileFact

NOT_RECORDED = "not recorded"


def cell(value: Any) -> str:
    """A table cell: floats to 4 significant places, pipes escaped, None as "not recorded"."""
    if value is None:
        return NOT_RECORDED
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def md5_cell(fact: FileFact) -> str:
    """The md5 of the published bytes, and whether dvc.lock agrees."""
    if fact.md5 is None:
        return "absent"
    if fact.locked_md5 is None:
        return f"`{fact.md5}` (not in dvc.lock)"
    if fact.matches_lock:
        return f"`{fact.md5}` (= dvc.lock)"
    return f"`{fact.md5}` (dvc.lock has `{fact.locked_md5}`: not the locked version)"


def interval(value: float | None, low: float | None, high: float | None) -> str:
    """'0.333 [0.000, 0.500]', or the point alone when the interval is missing."""
    if value is None:
        return NOT_RECORDED
    if low is None or high is None:
        return f"{value:.3f}"
    return f"{value:.3f} [{low:.3f}, {high:.3f}]"
