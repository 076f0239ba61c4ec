"""The `validate` stage body: gate, Data Docs and plots. pipelines/validate.py runs it.

Plots and metrics are written even when the gate fails: they are what a
person looks at to see *why* it failed.
"""

from __future__ import annotations

from pathlib import Path

from medinstruct_core.io import write_text
from medinstruct_gate.config import GateConfig
from medinstruct_gate.data import load_examples_frame
from medinstruct_gate.gate import GateResult, run_gate
from medinstruct_gate.plots import plot_dataset, write_plot_data


def run_validate_stage(
    input_path: str | Path,
    cfg: GateConfig,
    docs_dir: str | Path | None = None,
    plots_dir: str | Path | None = None,
) -> GateResult:
    """Gate `input_path`; write Data Docs and plots (+ CSV plot data) where asked."""
    frame = load_examples_frame(input_path)
    result = run_gate(frame, cfg, docs_dir)
    if plots_dir is not None and result.diversity is not None:
        pairs = result.diversity.verb_objects
        plot_dataset(frame, pairs, plots_dir, top_n=cfg.top_n_plot)
        write_plot_data(frame, pairs, plots_dir, top_n=cfg.top_n_plot)
    if docs_dir is not None:
        write_text(Path(docs_dir) / "summary.txt", "\n".join(result.summary()) + "\n")
    return result
