"""Benchmark (GPU): SFT tokens/s and MFU, padded vs packed, plus one QLoRA configuration.

A Llama-shaped model of about 1.1B parameters (TinyLlama's shape: 22 layers,
2048 wide, GQA 32/4 heads) with random weights in bf16, so nothing is
downloaded. The same SFT-like examples go through full fine-tuning steps
(forward, backward, fused AdamW):

- padded: batches padded to their longest example, sdpa with an attention mask;
- packed: TRL bfd packing + padding-free collation; flash_attention_2 (varlen,
  boundaries from cu_seq_lens) when flash-attn is installed, else sdpa with
  transformers' block-diagonal packed mask;
- qlora: the packed batches on a 4-bit NF4 copy of the model with LoRA r=16 on
  every linear layer (needs bitsandbytes; skipped without it).

MFU = 6 * params * real tokens/s / peak bf16 dense FLOP/s (the attention term
is left out, so it slightly understates). Without CUDA it prints a skip line
and returns, so `make bench` stays green on CPU machines.

    python3 -m benchmarks.bench_sft_gpu [--steps 8 --examples 256 --peak-tflops 989]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

from benchmarks.bench_packing import packed_batches, padded_batches, real_tokens, synthetic_rows

# Dense bf16 tensor-core peaks (no sparsity), FLOP/s.
PEAKS = {
    "H200": 989e12,
    "H100": 989e12,
    "A100": 312e12,
    "L40S": 362e12,
    "A10": 125e12,
    "L4": 121e12,
}
KEYS = ("input_ids", "attention_mask", "position_ids", "labels")


def peak_flops(name: str, override_tflops: float | None) -> float | None:
    if override_tflops:
        return override_tflops * 1e12
    return next((peak for key, peak in PEAKS.items() if key in name), None)


def llama_config(vocab: int) -> Any:
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=vocab, hidden_size=2048, intermediate_size=5632, num_hidden_layers=22,
        num_attention_heads=32, num_key_value_heads=4, max_position_embeddings=4096,
        tie_word_embeddings=False, use_cache=False,
    )  # fmt: skip


def build_model(vocab: int, attn: str) -> Any:
    import torch
    from transformers import LlamaForCausalLM

    torch.manual_seed(0)
    with torch.device("cuda"):
        model = LlamaForCausalLM(llama_config(vocab)).to(torch.bfloat16)
    model.config._attn_implementation = attn
    return model.train()


def packed_attn() -> str:
    import importlib.util

    return "flash_attention_2" if importlib.util.find_spec("flash_attn") else "sdpa"


def to_cuda(batch: dict) -> dict:
    moved = {k: batch[k].cuda(non_blocking=True) for k in KEYS if k in batch}
    for key in ("cu_seq_lens_q", "cu_seq_lens_k"):
        if key in batch:
            moved[key] = batch[key].cuda()
    for key in ("max_length_q", "max_length_k"):
        if key in batch:
            moved[key] = batch[key]
    return moved


def time_steps(model: Any, batches: list[dict], steps: int) -> tuple[float, int]:
    """(seconds, real tokens) over `steps` optimizer steps, after 2 warm-up steps."""
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-5, fused=True)
    cuda = [to_cuda(b) for b in batches]

    def step(batch: dict) -> None:
        model(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for batch in cuda[:2]:
        step(batch)
    torch.cuda.synchronize()
    started = time.perf_counter()
    timed = [cuda[i % len(cuda)] for i in range(steps)]
    for batch in timed:
        step(batch)
    torch.cuda.synchronize()
    return time.perf_counter() - started, sum(real_tokens(b) for b in timed)


def report(name: str, seconds: float, tokens: int, n_params: int, peak: float | None) -> dict:
    import torch

    rate = tokens / seconds
    mfu = 6 * n_params * rate / peak if peak else None
    mem = torch.cuda.max_memory_allocated() / 2**30
    mfu_text = f"{mfu:.1%}" if mfu is not None else "n/a (pass --peak-tflops)"
    print(f"{name:>7}: {rate:9.0f} tok/s, MFU {mfu_text}, peak mem {mem:.1f} GiB", flush=True)
    torch.cuda.reset_peak_memory_stats()
    return {"tok_s": rate, "mfu": mfu, "peak_gib": mem}


def qlora_model(vocab: int, attn: str) -> Any | None:
    """4-bit NF4 + LoRA r=16 on all linear layers, from a saved random bf16 model."""
    import importlib.util

    if importlib.util.find_spec("bitsandbytes") is None:
        print("  qlora: skipped (pip install bitsandbytes)")
        return None
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    with tempfile.TemporaryDirectory() as tmp:
        build_model(vocab, attn).save_pretrained(tmp)
        torch.cuda.empty_cache()
        quant = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16,
        )  # fmt: skip
        model = AutoModelForCausalLM.from_pretrained(
            tmp, quantization_config=quant, device_map={"": 0}, attn_implementation=attn
        )
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=True)
    lora = LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM")
    return get_peft_model(model, lora).train()


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    name = torch.cuda.get_device_name(0)
    peak = peak_flops(name, args.peak_tflops)
    rows = synthetic_rows(args.examples, args.vocab, seed=0)
    padded = padded_batches(rows, args.batch, pad_id=0)
    packed = packed_batches(rows, args.max_length, pad_id=0)
    attn = packed_attn()
    print(f"{name}; packed attention: {attn}; {args.steps} timed steps per mode", flush=True)
    results = {}
    for mode, batches, impl in (("padded", padded, "sdpa"), ("packed", packed, attn)):
        model = build_model(args.vocab, impl)
        n_params = sum(p.numel() for p in model.parameters())
        results[mode] = report(mode, *time_steps(model, batches, args.steps), n_params, peak)
        del model
        torch.cuda.empty_cache()
    model = qlora_model(args.vocab, attn)
    if model is not None:
        results["qlora"] = report("qlora", *time_steps(model, packed, args.steps), n_params, peak)
    return results


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--examples", type=int, default=256)
    parser.add_argument("--batch", type=int, default=8, help="examples per padded batch")
    parser.add_argument("--max-length", type=int, default=4096, help="packed row length")
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--peak-tflops", type=float, default=None)
    args = parser.parse_args(list(argv) if argv is not None else [])
    import torch

    if not torch.cuda.is_available():
        print("bench_sft_gpu: skipped (no CUDA device)")
        return {}
    return run(args)


if __name__ == "__main__":
    main(sys.argv[1:])
