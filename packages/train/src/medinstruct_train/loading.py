"""Load a model directory written by this package, for training, merging or evaluation.

`load_model` accepts a base directory (models/base), a student with a merged
model (models/student, the default) or a student holding only its LoRA
adapter (train.merge_adapter: false); medinstruct_eval calls it and need not
care which.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from medinstruct_train.artifacts import ModelDirError, read_sidecar

TRAIN_META = "medinstruct_train.json"
ADAPTER_SUBDIR = "adapter"


def has_weights(directory: Path) -> bool:
    return (directory / "config.json").is_file()


def adapter_dir(directory: Path) -> Path | None:
    candidate = directory / ADAPTER_SUBDIR
    return candidate if (candidate / "adapter_config.json").is_file() else None


def load_tokenizer(directory: str | Path, padding_side: str = "right") -> Any:
    """The tokenizer saved next to the weights; eval wants padding_side="left" for batched generation."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(directory))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = padding_side
    return tokenizer


def merge_adapter(base_dir: str | Path, adapter: str | Path, dtype: Any = "auto") -> Any:
    """Base weights + LoRA adapter -> one plain model (what evaluation and GGUF export load)."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=dtype)
    return PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()


def _recorded_base(directory: Path, base_dir: str | Path | None) -> Path:
    if base_dir is not None:
        return Path(base_dir)
    recorded = read_sidecar(directory, TRAIN_META).get("base_dir")
    if not recorded:
        raise ModelDirError(f"{directory}/{TRAIN_META}: field 'base_dir' is missing")
    return Path(recorded)


def load_model(
    directory: str | Path,
    *,
    dtype: Any = "auto",
    device: str | None = None,
    base_dir: str | Path | None = None,
    padding_side: str = "left",
) -> tuple[Any, Any]:
    """(model in eval mode, tokenizer) from a base, merged or adapter-only directory."""
    from transformers import AutoModelForCausalLM

    directory = Path(directory)
    model: Any
    if has_weights(directory):
        model = AutoModelForCausalLM.from_pretrained(str(directory), dtype=dtype)
    elif (adapter := adapter_dir(directory)) is not None:
        model = merge_adapter(_recorded_base(directory, base_dir), adapter, dtype=dtype)
    else:
        raise ModelDirError(
            f"{directory}: neither model weights (config.json) nor {ADAPTER_SUBDIR}/ found"
        )
    if device is not None:
        model = model.to(device)
    model.eval()
    return model, load_tokenizer(directory, padding_side=padding_side)


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Use `threads` CPU threads inside the block (0 = leave torch's setting).

    Why: on a CPU shared with other busy processes, torch's spinning OpenMP
    workers slow decoding down by an order of magnitude (measured: ~1 s per
    token with 2 threads vs ~0.08 s with 1 on a loaded 2-core box).
    """
    import torch

    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
