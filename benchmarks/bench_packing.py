"""Benchmark: SFT tokens/s on CPU, padded batches vs packed padding-free rows.

The same examples (synthetic token ids with an SFT-like length mix: prompts of
40-160 tokens, answers of 10-400) go through full training steps (forward,
backward, AdamW) of a random Llama, twice:

- padded: batches of `--batch` examples, each padded to its longest, with an
  attention mask (what `train.packing: false` does);
- packed: TRL's `pack_dataset(..., "bfd")` into `--max-length` rows, then TRL's
  padding-free collator (one flat row, position ids restarting per example),
  attention kept per example by sdpa + transformers' packed-sequence mask
  (what `train.packing: true` does).

Throughput counts real tokens only (pad tokens are waste), so the ratio is the
speed-up packing buys on this length mix. No weights are downloaded.

    python3 -m benchmarks.bench_packing [--examples 48 --hidden 256 --layers 4]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Sequence
from typing import Any


def synthetic_rows(n: int, vocab: int, seed: int) -> list[dict[str, list[int]]]:
    """`n` prompt+answer rows; labels mask the prompt (-100) like completion-only SFT."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        prompt, answer = rng.randint(40, 160), int(min(400, 10 + rng.expovariate(1 / 120)))
        ids = [rng.randrange(3, vocab) for _ in range(prompt + answer)]
        rows.append({"input_ids": ids, "labels": [-100] * prompt + ids[prompt:]})
    return rows


def random_llama(hidden: int, layers: int, vocab: int, seed: int) -> Any:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=vocab, hidden_size=hidden, intermediate_size=hidden * 3,
        num_hidden_layers=layers, num_attention_heads=max(1, hidden // 64),
        num_key_value_heads=max(1, hidden // 128), max_position_embeddings=4096,
        tie_word_embeddings=True, use_cache=False,
    )  # fmt: skip
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.config._attn_implementation = "sdpa"
    return model.train()


def padded_batches(rows: list[dict], batch: int, pad_id: int) -> list[dict]:
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    collate = DataCollatorForLanguageModeling(pad_token_id=pad_id)
    return [collate(rows[i : i + batch]) for i in range(0, len(rows), batch)]


def packed_batches(rows: list[dict], max_length: int, pad_id: int) -> list[dict]:
    """TRL's bfd packing, then its padding-free collator, one packed row per step."""
    from datasets import Dataset
    from trl.data_utils import pack_dataset
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    packed = pack_dataset(Dataset.from_list(rows), max_length, "bfd")
    collate = DataCollatorForLanguageModeling(pad_token_id=pad_id, padding_free=True)
    return [collate([packed[i]]) for i in range(len(packed))]


def real_tokens(batch: dict) -> int:
    if "attention_mask" in batch:
        return int(batch["attention_mask"].sum())
    return int(batch["input_ids"].numel())


def time_steps(model: Any, batches: list[dict]) -> tuple[float, int]:
    """(seconds, real tokens) for one optimizer step per batch, after one warm-up step."""
    import torch

    keys = ("input_ids", "attention_mask", "position_ids", "labels")
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step(batch: dict) -> None:
        loss = model(**{k: batch[k] for k in keys if k in batch}).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step(batches[0])
    started = time.perf_counter()
    for batch in batches:
        step(batch)
    return time.perf_counter() - started, sum(real_tokens(b) for b in batches)


def run(args: argparse.Namespace) -> dict[str, float]:
    import torch

    torch.set_num_threads(args.threads)
    rows = synthetic_rows(args.examples, args.vocab, args.seed)
    padded = padded_batches(rows, args.batch, pad_id=0)
    packed = packed_batches(rows, args.max_length, pad_id=0)
    pad_share = 1 - sum(map(real_tokens, padded)) / sum(b["input_ids"].numel() for b in padded)
    results = {}
    for name, batches in (("padded", padded), ("packed", packed)):
        model = random_llama(args.hidden, args.layers, args.vocab, args.seed)
        seconds, tokens = time_steps(model, batches)
        results[name] = tokens / seconds
        print(f"{name:>7}: {len(batches):3d} steps, {tokens} real tokens, {seconds:6.1f} s, "
              f"{tokens / seconds:8.0f} tok/s")  # fmt: skip
    print(f"padding share of padded batches: {pad_share:.1%}; "
          f"packed/padded speed-up: {results['packed'] / results['padded']:.2f}x")  # fmt: skip
    return {**results, "pad_share": pad_share}


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--examples", type=int, default=48)
    parser.add_argument("--batch", type=int, default=4, help="examples per padded batch")
    parser.add_argument("--max-length", type=int, default=1024, help="packed row length")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--vocab", type=int, default=49152, help="SmolLM2's vocabulary size")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    return run(parser.parse_args(list(argv) if argv is not None else []))


if __name__ == "__main__":
    main(sys.argv[1:])
