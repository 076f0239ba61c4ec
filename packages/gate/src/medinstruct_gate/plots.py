"""Pictures and plot data of what the curated dataset covers.

* one bar chart per label column (type, view, topic, difficulty), top N plus "(other)";
  type and view as canonical labels (`medinstruct_text.taxonomy`), as in the paper's
  figures, topic cleaned of markup;
* the top root verbs, each bar split into its most common direct objects: a flat
  version of the verb-noun sunburst in Self-Instruct and AlpaCare.

Figures are built with matplotlib's object API (`Figure`, rendered by Agg)
rather than pyplot, so nothing global (backend, current figure) changes and
the functions are safe in tests and workers. `write_plot_data` writes the
same counts as small CSV files for `dvc plots`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from medinstruct_core.io import write_text
from medinstruct_gate.verbs import VerbObject, pair_counts
from medinstruct_text.charts import (
    LABEL_COLUMNS,
    OTHER,
    OTHER_COLOR,
    SEGMENT_COLORS,
    bar_chart,
    save_figure,
    top_counts,
)
from medinstruct_text.taxonomy import plot_label


def verb_object_table(
    pairs: Sequence[VerbObject | None], top_verbs: int, top_objects: int
) -> pd.DataFrame:
    """Rows (verb, object, count) for the top verbs; objects beyond top_objects become "(other)".

    Verbs are ranked by how many instructions have a complete verb-object pair.
    """
    counts = pair_counts(pairs)
    per_verb: Counter[str] = Counter()
    for (verb, _), n in counts.items():
        per_verb[verb] += n
    rows = []
    for verb, _ in sorted(per_verb.items(), key=lambda kv: (-kv[1], kv[0]))[:top_verbs]:
        objects = sorted(
            ((o, n) for (v, o), n in counts.items() if v == verb), key=lambda kv: (-kv[1], kv[0])
        )
        rows += [(verb, obj, n) for obj, n in objects[:top_objects]]
        rest = sum(n for _, n in objects[top_objects:])
        if rest:
            rows.append((verb, OTHER, rest))
    return pd.DataFrame(rows, columns=["verb", "object", "count"])


def verb_object_chart(
    table: pd.DataFrame, path: Path, title: str = "Top root verbs and their objects"
) -> Path:
    """One stacked bar per verb; each segment is an object, labelled when it is wide enough."""
    verbs = list(dict.fromkeys(table["verb"]))[::-1]
    fig = Figure(figsize=(9, 0.4 * max(len(verbs), 3) + 1))
    ax = fig.add_subplot()
    widest = max((table.groupby("verb")["count"].sum().max() if len(table) else 1), 1)
    for row, verb in enumerate(verbs):
        left = 0
        segments = table[table["verb"] == verb]
        for rank, (obj, count) in enumerate(
            zip(segments["object"], segments["count"], strict=True)
        ):
            color = OTHER_COLOR if obj == OTHER else SEGMENT_COLORS[rank % len(SEGMENT_COLORS)]
            ax.barh(row, count, left=left, color=color, edgecolor="white")
            if count / widest > 0.08:
                ink = "black" if obj == OTHER else "white"
                ax.text(left + count / 2, row, obj, ha="center", va="center", fontsize=7, color=ink)
            left += count
    ax.set_yticks(range(len(verbs)), verbs)
    ax.set_xlabel("instructions")
    ax.set_title(title)
    return save_figure(fig, path)


def plot_dataset(
    frame: pd.DataFrame,
    pairs: Sequence[VerbObject | None],
    out_dir: str | Path,
    top_n: int = 15,
    top_objects: int = 4,
) -> list[Path]:
    """Write `<column>.png` for each label column present and `verb_objects.png`.

    `pairs` may cover a sample of the rows (the gate parses `sample_size` rows);
    the verb-object title then says how many of how many.
    """
    out = Path(out_dir)
    paths = [
        bar_chart(_column_counts(frame, col, top_n), f"{col} (top {top_n})", out / f"{col}.png")
        for col in LABEL_COLUMNS
        if col in frame.columns
    ]
    table = verb_object_table(pairs, top_n, top_objects)
    title = "Top root verbs and their objects"
    if len(pairs) < len(frame):
        title += f" ({len(pairs):,} sampled of {len(frame):,} instructions)"
    paths.append(verb_object_chart(table, out / "verb_objects.png", title))
    return paths


def write_plot_data(
    frame: pd.DataFrame,
    pairs: Sequence[VerbObject | None],
    out_dir: str | Path,
    top_n: int = 15,
    top_objects: int = 4,
) -> list[Path]:
    """CSV files for `dvc plots`: `<column>_counts.csv` (label,count) and `verb_objects.csv`."""
    out = Path(out_dir)
    paths = []
    for col in LABEL_COLUMNS:
        if col in frame.columns:
            table = pd.DataFrame(_column_counts(frame, col, top_n), columns=[col, "count"])
            paths.append(_write_csv(table, out / f"{col}_counts.csv"))
    paths.append(_write_csv(verb_object_table(pairs, top_n, top_objects), out / "verb_objects.csv"))
    return paths


def _column_counts(frame: pd.DataFrame, column: str, top_n: int) -> list[tuple[str, int]]:
    """Counts of the plotted labels: canonical type/view, clean topic, raw difficulty."""
    values = [plot_label(column, value) for value in frame[column].tolist()]
    return top_counts(values, top_n, by_label=column == "difficulty")


def _write_csv(table: pd.DataFrame, path: Path) -> Path:
    write_text(path, table.to_csv(index=False))
    return path
