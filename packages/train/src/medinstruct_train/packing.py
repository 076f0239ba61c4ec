"""Packing without cross-contamination, and the per-example losses that prove it.

`train.packing: true` uses TRL's own mechanism: `SFTConfig(packing=True,
packing_strategy="bfd")` packs whole examples (best-fit decreasing, none split)
into rows of `max_length`, and the SFTTrainer then switches to padding-free
collation (`DataCollatorForLanguageModeling(padding_free=True)`): the batch is
one flat row with *per-example* `position_ids` (restarting at 0 at each
example) and no `attention_mask`, and the first label of each example is -100.

Which attention keeps examples apart:
- GPU with flash-attn installed: `flash_attention_2` reads the boundaries from
  the `cu_seq_lens_*` the collator adds (varlen kernel, no mask at all);
- CPU, or GPU without flash-attn: `sdpa` (or `eager`). transformers'
  masking_utils sees position_ids without an attention mask and builds a
  block-diagonal causal mask from the restarts (`find_packed_sequence_indices`).
  Verified here on CPU: a packed row gives each example the same loss as
  running it alone (`per_example_losses`, tests/train/test_packing.py).

The KV cache must be off (`use_cache=False`, as in training): masking_utils
only looks for packed sequences when no cache is passed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

IGNORE = -100


def resolve_attn_implementation(requested: str, *, packing: bool, use_cpu: bool) -> str:
    """`train.attn_implementation` "auto" -> flash_attention_2 where it can run, else sdpa."""
    if requested != "auto":
        return requested
    if packing and not use_cpu and flash_attn_available():
        return "flash_attention_2"
    return "sdpa"


def flash_attn_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("flash_attn") is not None


def segment_ids(position_ids: Any) -> Any:
    """Example index of every token of a padding-free row: +1 at each position reset to 0."""
    starts = (position_ids == 0).long()
    return starts.cumsum(-1) - 1


def token_losses(model: Any, batch: dict[str, Any]) -> tuple[Any, Any]:
    """(per-token cross-entropy of the shifted labels, mask of tokens that count), no grad."""
    import torch
    import torch.nn.functional as F

    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "position_ids") if k in batch}
    with torch.no_grad():
        logits = model(**inputs, use_cache=False).logits.float()
    labels = batch["labels"][:, 1:]
    losses = F.cross_entropy(
        logits[:, :-1].reshape(-1, logits.size(-1)),
        labels.reshape(-1),
        ignore_index=IGNORE,
        reduction="none",
    ).view(labels.shape)
    return losses, labels != IGNORE


def per_example_losses(model: Any, batch: dict[str, Any]) -> list[float]:
    """Mean completion-token loss of each example in a padded or a padding-free batch.

    Padded (`attention_mask`): one example per row. Padding-free
    (`position_ids`, one row): examples are told apart by position resets. A
    label is attributed to the example of the token it is (the shifted one).
    """
    losses, counted = token_losses(model, batch)
    if "attention_mask" in batch:
        return [float(losses[i][counted[i]].mean()) for i in range(losses.size(0))]
    segments = segment_ids(batch["position_ids"])[:, 1:]
    n_examples = int(segments.max()) + 1
    out = []
    for index in range(n_examples):
        mine = counted & (segments == index)
        out.append(float(losses[mine].mean()) if bool(mine.any()) else float("nan"))
    return out


def split_packed(batch: dict[str, Any]) -> list[tuple[list[int], list[int]]]:
    """(input_ids, labels) of each example of a padding-free row, in row order."""
    segments = segment_ids(batch["position_ids"])[0]
    ids, labels = batch["input_ids"][0], batch["labels"][0]
    return [
        (ids[segments == i].tolist(), labels[segments == i].tolist())
        for i in range(int(segments.max()) + 1)
    ]


def padding_fraction(lengths: Sequence[int], batch_size: int) -> float:
    """Share of pad tokens when `lengths` are batched in order and padded to each batch's longest."""
    padded = 0
    for start in range(0, len(lengths), batch_size):
        chunk = lengths[start : start + batch_size]
        padded += max(chunk) * len(chunk)
    return 1.0 - sum(lengths) / padded if padded else 0.0
