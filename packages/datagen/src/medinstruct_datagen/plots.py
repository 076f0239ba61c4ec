"""Distribution plots of generated tasks (type, view, topic, difficulty) and of answers.

AlpaCare's claim is that *diverse* tasks matter, so each generation run leaves
a picture of what the teacher actually produced next to its metrics. Type and
view are counted as canonical labels (`medinstruct_text.taxonomy`), as in the
paper's figures, so `Triage,` and `triage` are one bar and junk is `other`. The bar
charts are shared with the gate (`medinstruct_text.charts`), so generated
and curated data are drawn the same way. Figures use matplotlib's object API
(`Figure`, no pyplot): no global backend or figure state is touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure

from medinstruct_core.io import atomic_open, write_json
from medinstruct_core.records import Example, Task
from medinstruct_text.charts import LABEL_COLUMNS, bar_chart, top_counts
from medinstruct_text.taxonomy import plot_label

TOP_K = 20


def distributions(tasks: Sequence[Task], top_k: int = TOP_K) -> dict[str, dict[str, int]]:
    """Counts per label column (canonical type/view): the `top_k` most common plus "(other)"."""
    return {
        name: dict(
            top_counts(
                [plot_label(name, getattr(t, name)) for t in tasks],
                top_k,
                by_label=name == "difficulty",
            )
        )
        for name in LABEL_COLUMNS
    }


def plot_distributions(tasks: Sequence[Task], out_dir: str | Path) -> list[Path]:
    """Write one bar chart per label column plus `distributions.json`; return the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    counts = distributions(tasks)
    written = []
    for name, values in counts.items():
        title = f"{name} ({len(tasks)} generated tasks, top {TOP_K})"
        written.append(bar_chart(list(values.items()), title, out / f"{name}.png"))
    write_json(out / "distributions.json", counts)
    return [*written, out / "distributions.json"]


def plot_output_lengths(examples: Sequence[Example], out_dir: str | Path) -> Path:
    """Histogram of response lengths in words, truncated answers stacked in red.

    The responder's token limit shows up here as a wall at the right edge:
    the quickest way to see that `max_tokens` is too small for the prompts.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    full = [len(e.output.split()) for e in examples if not e.truncated]
    cut = [len(e.output.split()) for e in examples if e.truncated]
    fig = Figure(figsize=(7, 3.5))
    ax = fig.add_subplot()
    ax.hist([full, cut], bins=30, stacked=True, color=["#4C72B0", "#C44E52"],
            label=[f"complete ({len(full)})", f"truncated ({len(cut)})"])  # fmt: skip
    ax.set_xlabel("output words")
    ax.set_ylabel("examples")
    ax.legend()
    fig.tight_layout()
    path = out / "output_words.png"
    with atomic_open(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=100)
    return path
