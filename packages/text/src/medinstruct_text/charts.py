"""Bar charts of label distributions, shared by generation and the gate.

Generated and curated data are drawn the same way, so a reader can compare the
teacher's output with what survived curation. Figures use matplotlib's object
API (`Figure`, rendered by Agg) rather than pyplot: nothing global (backend,
current figure) changes, so the functions are safe in tests and workers.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure

from medinstruct_core.io import atomic_open

LABEL_COLUMNS = ("type", "view", "topic", "difficulty")
OTHER = "(other)"
SEGMENT_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
OTHER_COLOR = "#c7c7c7"


def top_counts(
    values: Sequence[object], top_n: int, by_label: bool = False
) -> list[tuple[str, int]]:
    """The top_n most common values plus one "(other)" bucket for the rest.

    Ordered by count (ties by label), or by label for ordinal columns (difficulty).
    """
    counts = Counter("(missing)" if _is_missing(v) else str(v) for v in values)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    head, rest = ranked[:top_n], ranked[top_n:]
    if by_label:
        head.sort()
    if rest:
        head.append((OTHER, sum(c for _, c in rest)))
    return head


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def save_figure(fig: Figure, path: Path) -> Path:
    """Render to memory, then write atomically (a half-written PNG must never appear)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    with atomic_open(path, "wb", encoding=None) as handle:
        handle.write(buffer.getvalue())
    return path


def bar_chart(counts: list[tuple[str, int]], title: str, path: Path) -> Path:
    """Horizontal bars, largest on top."""
    labels = [label for label, _ in counts][::-1]
    values = [value for _, value in counts][::-1]
    fig = Figure(figsize=(7, 0.35 * max(len(labels), 3) + 1))
    ax = fig.add_subplot()
    colors = [OTHER_COLOR if label == OTHER else SEGMENT_COLORS[0] for label in labels]
    bars = ax.barh(labels, values, color=colors)
    ax.bar_label(bars, padding=2, fontsize=8)
    ax.set_title(title)
    ax.set_xlabel("examples")
    return save_figure(fig, path)
