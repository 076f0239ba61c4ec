"""A real (tiny) SFT run: 2 steps of LoRA on the tiny random Llama, plus the label mask."""

import json
import math
import shutil
from pathlib import Path

import pytest

from medinstruct_train.loading import load_model, load_tokenizer
from medinstruct_train.prompting import to_prompt_completion
from medinstruct_train.sft import TrainConfig, TrainResult, build_trainer, train_sft
from tests.train.conftest import make_examples

FAST = {
    "max_steps": 2,
    "max_length": 128,
    "per_device_train_batch_size": 2,
    "gradient_accumulation_steps": 1,
    "warmup_ratio": 0.0,
    "eval_fraction": 0.25,
    "seed": 1,
}


@pytest.fixture(scope="module")
def run(tiny_base, tmp_path_factory) -> tuple[TrainResult, Path, list[tuple[int, dict]]]:
    out = tmp_path_factory.mktemp("train") / "student"
    logged: list[tuple[int, dict]] = []
    result = train_sft(
        TrainConfig(**FAST, checkpoint_dir=str(tmp_path_factory.mktemp("cache"))),
        tiny_base,
        make_examples(8),
        out,
        on_log=lambda m, step: logged.append((step, m)),
    )
    return result, out, logged


def test_two_steps_give_a_finite_loss_history(run):
    result, _, _ = run
    assert result.steps == 2
    assert [p["step"] for p in result.loss_history] == [1, 2]
    assert all(math.isfinite(p["loss"]) for p in result.loss_history)
    assert result.final_loss == result.loss_history[-1]["loss"]
    assert (result.n_train, result.n_eval, result.n_dropped) == (6, 2, 0)
    # 2 steps x batch 2 x 1 accumulation x 1 process: only 4 of the 6 rows are tokenized.
    assert result.n_tokenized == 4
    assert result.eval_loss is not None and math.isfinite(result.eval_loss)
    assert result.tokens > 0 and result.peak_rss_mb > 0
    assert result.device == "cpu"
    # LoRA r=8 on q,k,v,o of 2 layers, hidden 64, 2 of 4 heads for k/v: A (8x64) + B (64x8 or 32x8)
    assert result.trainable_parameters == 2 * (4 * 8 * 64 + 2 * 64 * 8 + 2 * 32 * 8)


def test_step_metrics_reach_the_sink_per_step(run):
    _, _, logged = run
    train_logs = [(step, m) for step, m in logged if "loss" in m]
    assert [step for step, _ in train_logs] == [1, 2]
    assert {"loss", "learning_rate", "grad_norm"} <= set(train_logs[0][1])
    assert any("eval_loss" in m for _, m in logged)


def test_student_dir_holds_adapter_merged_model_and_resolved_config(run, tiny_base):
    _, out, _ = run
    for name in ("config.json", "model.safetensors", "tokenizer.json", "medinstruct_train.json"):
        assert (out / name).is_file(), name
    for name in ("adapter_config.json", "adapter_model.safetensors", "tokenizer.json"):
        assert (out / "adapter" / name).is_file(), name
    meta = json.loads((out / "medinstruct_train.json").read_text())
    assert meta["config"]["max_steps"] == 2 and meta["config"]["seed"] == 1
    assert meta["base_dir"] == str(tiny_base)
    assert meta["base"]["kind"] == "tiny-random"
    assert meta["sft_config"]["max_length"] == 128
    assert meta["result"]["steps"] == 2 and len(meta["loss_history"]) == 2
    leftovers = [p.name for p in out.parent.iterdir() if p.name != "student"]
    assert leftovers == [], f"staging or trainer scratch left behind: {leftovers}"


def test_merged_model_moved_away_from_the_base_and_matches_the_adapter(run, tiny_base, tmp_path):
    import torch

    _, out, _ = run
    merged, _ = load_model(out)
    base_model, _ = load_model(tiny_base)
    w_merged = merged.model.layers[0].self_attn.q_proj.weight
    assert not torch.equal(w_merged, base_model.model.layers[0].self_attn.q_proj.weight)
    adapter_only = tmp_path / "student"
    shutil.copytree(out / "adapter", adapter_only / "adapter")
    shutil.copy(out / "adapter" / "tokenizer.json", adapter_only / "tokenizer.json")
    shutil.copy(out / "adapter" / "tokenizer_config.json", adapter_only / "tokenizer_config.json")
    shutil.copy(out / "medinstruct_train.json", adapter_only / "medinstruct_train.json")
    rebuilt, tokenizer = load_model(adapter_only)
    assert torch.allclose(rebuilt.model.layers[0].self_attn.q_proj.weight, w_merged, atol=1e-6)
    assert tokenizer.padding_side == "left"


def test_collated_labels_mask_the_prompt_and_keep_answer_and_eos(tiny_base, tmp_path):
    import torch

    tokenizer = load_tokenizer(tiny_base)
    rows = [to_prompt_completion(e, tokenizer.eos_token) for e in make_examples(2)]
    trainer = build_trainer(
        TrainConfig(**FAST), tiny_base, tokenizer, (rows, []), tmp_path / "scratch", []
    )
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(2)])
    for i, row in enumerate(rows):
        n_prompt = len(tokenizer(row["prompt"])["input_ids"])
        n_real = int(batch["attention_mask"][i].sum())
        labels, ids = batch["labels"][i], batch["input_ids"][i]
        assert n_prompt > 10
        assert bool((labels[:n_prompt] == -100).all()), "prompt tokens must not be trained on"
        assert torch.equal(labels[n_prompt:n_real], ids[n_prompt:n_real])
        assert int(labels[n_real - 1]) == tokenizer.eos_token_id
        assert bool((labels[n_real:] == -100).all())
        answer = tokenizer.decode(ids[n_prompt:n_real], skip_special_tokens=True)
        assert answer == make_examples(2)[i].output


def test_full_fine_tuning_updates_every_weight_and_saves_a_plain_model(tiny_base, tmp_path):
    out = tmp_path / "student"
    cfg = TrainConfig(**{**FAST, "method": "full", "max_steps": 1, "eval_fraction": 0.0})
    result = train_sft(cfg, tiny_base, make_examples(4), out)
    assert result.trainable_parameters == result.total_parameters
    assert (out / "model.safetensors").exists() and not (out / "adapter").exists()
    assert math.isfinite(result.final_loss)
    load_model(out)  # loads as a plain causal LM


def test_qlora_requires_lora():
    with pytest.raises(ValueError, match="qlora: true needs method: lora"):
        TrainConfig(method="full", qlora=True)
