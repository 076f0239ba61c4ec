"""Packing proof on the tiny model: a packed row gives every example the loss it has alone.

TRL packs (bfd) and collates padding-free (one row, position_ids restarting per
example, no attention mask); on CPU the model uses sdpa, and transformers turns
the position restarts into a block-diagonal causal mask. If attention leaked
across examples, the later examples of a row would see their neighbours and
their losses would move: the negative control shows by how much.
"""

import math

import pytest

from medinstruct_train.loading import load_tokenizer
from medinstruct_train.packing import per_example_losses, split_packed
from medinstruct_train.prompting import to_prompt_completion
from medinstruct_train.sft import TrainConfig, build_trainer, train_sft
from tests.train.conftest import make_examples

# fp32 on CPU: packed and padded runs of the same example differ by float rounding only.
ATOL = 1e-5
BASE = {
    "max_steps": 2,
    "max_length": 256,
    "per_device_train_batch_size": 4,
    "gradient_accumulation_steps": 1,
    "warmup_ratio": 0.0,
    "seed": 3,
    "save_steps": 0,
}


def _varied_examples():
    """Six examples of clearly different lengths, so packing has something to do."""
    examples = make_examples(6)
    return [
        e.model_copy(update={"output": " ".join([e.output] * (1 + i % 3))})
        for i, e in enumerate(examples)
    ]


@pytest.fixture(scope="module")
def batches(tiny_base, tmp_path_factory):
    """(model in eval mode, tokenizer, rows, packed batch, padded batch) from TRL's own pipeline."""
    tokenizer = load_tokenizer(tiny_base)
    rows = [to_prompt_completion(e, tokenizer.eos_token) for e in _varied_examples()]
    scratch = tmp_path_factory.mktemp("packing")
    packed = build_trainer(
        TrainConfig(**BASE, packing=True), tiny_base, tokenizer, (rows, []), scratch / "p", []
    )
    padded = build_trainer(TrainConfig(**BASE), tiny_base, tokenizer, (rows, []), scratch / "u", [])
    assert len(packed.train_dataset) < len(rows), "nothing was packed"
    packed_batch = packed.data_collator(list(packed.train_dataset))
    padded_batch = padded.data_collator(list(padded.train_dataset))
    model = packed.model.eval()
    return model, tokenizer, rows, packed_batch, padded_batch


def _by_tokens(batch, losses):
    """{token ids of an example: its loss}, for padded or packed batches."""
    if "attention_mask" in batch:
        keys = [
            tuple(ids[mask.bool()].tolist())
            for ids, mask in zip(batch["input_ids"], batch["attention_mask"], strict=True)
        ]
    else:
        keys = [tuple(ids) for ids, _ in split_packed(batch)]
    return dict(zip(keys, losses, strict=True))


def test_packed_batch_is_one_padding_free_row(batches):
    _, _, rows, packed, padded = batches
    assert "attention_mask" not in packed and packed["input_ids"].shape[0] == 1
    assert int((packed["position_ids"][0] == 0).sum()) == len(rows)
    assert packed["input_ids"].shape[1] == int(padded["attention_mask"].sum())  # no pad at all


def test_per_example_losses_packed_equal_unpacked(batches):
    model, _, rows, packed, padded = batches
    alone = _by_tokens(padded, per_example_losses(model, padded))
    together = _by_tokens(packed, per_example_losses(model, packed))
    assert set(alone) == set(together) and len(alone) == len(rows)
    worst = max(abs(alone[k] - together[k]) for k in alone)
    assert worst < ATOL, f"packed vs unpacked loss differs by {worst:.2e}"


def test_without_position_restarts_attention_leaks_and_losses_move(batches):
    """Negative control: the same row with positions 0..T-1 (plain causal) is contaminated."""
    import torch

    model, _, _, packed, padded = batches
    alone = _by_tokens(padded, per_example_losses(model, padded))
    leaky = dict(packed)
    n = packed["input_ids"].shape[1]
    restarts = packed["position_ids"]
    leaky["position_ids"] = torch.arange(n)[None]
    losses = _leaky_losses(model, leaky, restarts)
    moved = max(abs(alone[k] - v) for k, v in _by_tokens(packed, losses).items())
    assert moved > 1e-3, "a contaminated row should change the later examples' losses"


def _leaky_losses(model, leaky, restarts):
    from medinstruct_train.packing import segment_ids, token_losses

    losses, counted = token_losses(model, leaky)
    segments = segment_ids(restarts)[:, 1:]
    out = [float(losses[counted & (segments == i)].mean()) for i in range(int(segments.max()) + 1)]
    return out


def test_packed_rows_keep_the_prompt_masked_and_train_the_answer_and_eos(batches):
    _, tokenizer, rows, packed, _ = batches
    by_ids = {}
    for row in rows:
        prompt = tokenizer(row["prompt"])["input_ids"]
        full = tokenizer(row["prompt"] + row["completion"])["input_ids"]
        by_ids[tuple(full)] = len(prompt)
    for ids, labels in split_packed(packed):
        n_prompt = by_ids[tuple(ids)]
        assert n_prompt > 10
        assert labels[:n_prompt] == [-100] * n_prompt
        assert labels[n_prompt:] == ids[n_prompt:]
        assert labels[-1] == tokenizer.eos_token_id


@pytest.mark.slow
def test_training_with_packing_runs_and_reports_packed_rows(tiny_base, tmp_path):
    cfg = TrainConfig(**{**BASE, "packing": True, "per_device_train_batch_size": 1})
    result = train_sft(cfg, tiny_base, _varied_examples(), tmp_path / "student")
    assert result.steps == 2 and all(math.isfinite(p["loss"]) for p in result.loss_history)
    assert result.n_train == 6 and result.n_dropped == 0
    assert result.packed_rows is not None and 1 <= result.packed_rows < 6
