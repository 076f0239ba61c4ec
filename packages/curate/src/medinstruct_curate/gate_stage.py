"""The `validate` stage body: gate, plots, metrics file. pipelines/validate.py only parses arguments.

Plots and metrics are written even when the gate fails: they are what a
person looks at to see *why* it failed.
"""

from __future__ import annotations

from pathlib import Path

from medinstruct_core.io import write_json, write_text
from medinstruct_curate.gate import GateResult, run_gate
from medinstruct_curate.gate_config import GateConfig
from medinstruct_curate.gate_data import load_examples_frame
from medinstruct_curate.plots import plot_dataset, write_plot_data


def run_validate_stage(
    input_path: str | Path,
    cfg: GateConfig,
    docs_dir: str | Path | None = None,
    plots_dir: str | Path | None = None,
    metrics_out: str | Path | None = None,
) -> GateResult:
    """Gate `input_path`; write Data Docs, plots (+ CSV plot data) and metrics JSON where asked."""
    frame = load_examples_frame(input_path)
    result = run_gate(frame, cfg, docs_dir)
    if plots_dir is not None and result.diversity is not None:
        pairs = result.diversity.verb_objects
        plot_dataset(frame, pairs, plots_dir, top_n=cfg.top_n_plot)
        write_plot_data(frame, pairs, plots_dir, top_n=cfg.top_n_plot)
    if metrics_out is not None:
        write_json(metrics_out, result.metrics_json())
    if docs_dir is not None:
        write_text(Path(docs_dir) / "summary.txt", "\n".join(result.summary()) + "\n")
    return result
