"""params -> LoraConfig / SFTConfig translation, checked field by field without loading weights."""

from pathlib import Path

import pytest

from medinstruct_core.params import ParamsError, load_section, parse_section
from medinstruct_train import sft
from medinstruct_train.sft import (
    TrainConfig,
    TrainError,
    check_examples,
    split_eval,
    to_lora_config,
    to_sft_config,
    with_seed,
)
from tests.train.conftest import make_examples

ROOT = Path(__file__).resolve().parents[2]


def test_project_params_train_section_parses():
    cfg = load_section(ROOT / "params.yaml", "train", TrainConfig)
    assert cfg.lora.target_modules == ["q_proj", "k_proj", "v_proj", "o_proj"]
    assert cfg.max_length > 0 and cfg.learning_rate > 0


def test_unknown_train_key_names_the_key():
    with pytest.raises(ParamsError, match="unknown key 'lerning_rate'"):
        parse_section({"lerning_rate": 1e-4}, TrainConfig, where="params.yaml: train")


def test_unknown_lora_key_names_the_dotted_key():
    with pytest.raises(ParamsError, match=r"unknown key 'lora\.rank'"):
        parse_section({"lora": {"rank": 8}}, TrainConfig, where="params.yaml: train")


def test_lora_config_fields():
    lora = to_lora_config(
        TrainConfig(
            lora={"r": 4, "alpha": 32, "dropout": 0.1, "target_modules": ["q_proj", "v_proj"]}
        )
    )
    assert (lora.r, lora.lora_alpha, lora.lora_dropout) == (4, 32, 0.1)
    assert set(lora.target_modules) == {"q_proj", "v_proj"}
    assert lora.bias == "none"
    assert (
        str(lora.task_type.value if hasattr(lora.task_type, "value") else lora.task_type)
        == "CAUSAL_LM"
    )


def test_sft_config_fields_on_cpu(tmp_path):
    cfg = with_seed(TrainConfig(), 7)
    args = to_sft_config(cfg, tmp_path / "scratch", use_cpu=True)
    assert args.output_dir == str(tmp_path / "scratch")
    assert (args.max_length, args.num_train_epochs, args.max_steps) == (512, 2.0, -1)
    assert (
        args.learning_rate,
        args.per_device_train_batch_size,
        args.gradient_accumulation_steps,
    ) == (2e-4, 4, 2)
    assert args.warmup_steps == 0.03
    assert str(args.lr_scheduler_type.value) == "cosine"
    assert (args.weight_decay, args.max_grad_norm, args.logging_steps) == (0.0, 1.0, 1)
    assert (args.seed, args.data_seed) == (7, 7)
    assert (args.bf16, args.fp16, args.use_cpu) == (False, False, True)
    assert args.gradient_checkpointing is False
    assert args.completion_only_loss is True and args.packing is False
    assert args.report_to == []
    assert str(args.save_strategy.value) == "steps" and str(args.eval_strategy.value) == "no"
    assert (args.save_steps, args.save_total_limit, args.save_only_model) == (50, 2, False)
    assert args.include_num_input_tokens_seen == "non_padding"
    assert args.ddp_find_unused_parameters is False


def test_sft_config_maps_max_steps_and_checkpointing(tmp_path):
    cfg = TrainConfig(max_steps=5, gradient_checkpointing=True, max_length=64)
    args = to_sft_config(cfg, tmp_path, use_cpu=True)
    assert (args.max_steps, args.max_length, args.gradient_checkpointing) == (5, 64, True)
    assert args.seed == sft.DEFAULT_SEED


def test_packing_uses_trl_bfd_padding_free_and_save_steps_zero_turns_checkpoints_off(tmp_path):
    args = to_sft_config(TrainConfig(packing=True, save_steps=0), tmp_path, use_cpu=True)
    assert (args.packing, args.packing_strategy, args.padding_free) == (True, "bfd", True)
    assert str(args.save_strategy.value) == "no"
    plain = to_sft_config(TrainConfig(), tmp_path, use_cpu=True)
    assert (plain.packing, plain.padding_free) == (False, False)


def test_attn_implementation_auto_is_sdpa_on_cpu_and_flash_only_when_installed(monkeypatch):
    from medinstruct_train import packing

    assert packing.resolve_attn_implementation("auto", packing=True, use_cpu=True) == "sdpa"
    assert packing.resolve_attn_implementation("eager", packing=True, use_cpu=True) == "eager"
    monkeypatch.setattr(packing, "flash_attn_available", lambda: True)
    assert (
        packing.resolve_attn_implementation("auto", packing=True, use_cpu=False)
        == "flash_attention_2"
    )
    assert packing.resolve_attn_implementation("auto", packing=False, use_cpu=False) == "sdpa"
    monkeypatch.setattr(packing, "flash_attn_available", lambda: False)
    assert packing.resolve_attn_implementation("auto", packing=True, use_cpu=False) == "sdpa"


def test_with_seed_fills_only_a_missing_seed():
    assert with_seed(TrainConfig(), 3).seed == 3
    assert with_seed(TrainConfig(seed=11), 3).seed == 11


def test_precision_auto_is_fp32_on_cpu_and_explicit_bf16_wins():
    assert sft.resolve_precision(TrainConfig(), use_cpu=True) == (False, False)
    assert sft.resolve_precision(TrainConfig(bf16=True), use_cpu=True) == (True, False)
    assert sft.resolve_precision(TrainConfig(bf16=False), use_cpu=False) == (False, False)


@pytest.mark.parametrize(("bf16_ok", "expected"), [(True, (True, False)), (False, (False, True))])
def test_precision_auto_on_gpu_prefers_bf16_else_fp16(monkeypatch, bf16_ok, expected):
    import torch

    monkeypatch.setattr(sft, "cuda_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16_ok)
    assert sft.resolve_precision(TrainConfig(), use_cpu=False) == expected


def test_qlora_without_cuda_is_a_clear_error():
    with pytest.raises(TrainError, match="CUDA"):
        sft.quantization_config(TrainConfig(qlora=True), use_cpu=True)
    assert sft.quantization_config(TrainConfig(), use_cpu=True) is None


def test_split_eval_is_seeded_disjoint_and_exact():
    rows = [{"prompt": str(i), "completion": "c"} for i in range(10)]
    train, held = split_eval(rows, 0.2, seed=1)
    assert (len(train), len(held)) == (8, 2)
    assert {r["prompt"] for r in train} | {r["prompt"] for r in held} == {str(i) for i in range(10)}
    assert split_eval(rows, 0.2, seed=1) == (train, held)
    assert split_eval(rows, 0.0, seed=1) == (rows, [])
    assert split_eval(rows[:1], 0.5, seed=1) == (rows[:1], [])
    assert len(split_eval(rows[:2], 0.9, seed=1)[1]) == 1  # never holds out everything


def test_check_examples_names_the_record_and_field():
    bad = make_examples(3)
    bad[1] = bad[1].model_copy(update={"output": ""})
    with pytest.raises(TrainError, match=r"examples\[1\] \(id=ex1\): field 'output' is empty"):
        check_examples(bad)
    with pytest.raises(TrainError, match="empty"):
        check_examples([])
