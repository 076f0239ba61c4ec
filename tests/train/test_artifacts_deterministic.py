"""A saved student must not depend on the process that saved it (#18.5).

PEFT writes set-valued config fields (target_modules) in string-hash order,
which changes with PYTHONHASHSEED; `save_student` sorts them, so two runs of
the same training give byte-identical directories (and DVC hashes).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from peft import LoraConfig

from medinstruct_train.artifacts import ADAPTER_CONFIG, sort_adapter_sets

# Saves a tiny random Llama student through the real `save_student` (adapter,
# merged model, sidecar) and prints the sha256 of every file it wrote.
SAVE_STUDENT = """
import hashlib, json, sys, types
from pathlib import Path
import torch
from peft import get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM
from medinstruct_train.sft import TrainConfig, save_student, to_lora_config

class NoTokenizer:
    def save_pretrained(self, directory):
        pass

out = Path(sys.argv[1])
torch.manual_seed(0)
config = LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                     num_attention_heads=2, num_key_value_heads=2)
base = LlamaForCausalLM(config)
base.save_pretrained(out / "base")
cfg = TrainConfig(lora={"target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "up_proj"]})
trainer = types.SimpleNamespace(model=get_peft_model(base, to_lora_config(cfg)),
                                processing_class=NoTokenizer())
save_student(trainer, cfg, out / "base", out / "student", {"note": "fixed"})
files = sorted(p for p in (out / "student").rglob("*") if p.is_file())
print(json.dumps({str(p.relative_to(out / "student")): hashlib.sha256(p.read_bytes()).hexdigest()
                  for p in files}))
"""

# With these two hash seeds PEFT 0.21 writes the five target modules in different orders.
HASH_SEEDS = ("1", "2")


def _save_students(root: Path) -> list[dict[str, str]]:
    """Run SAVE_STUDENT once per hash seed, concurrently (each pays torch + transformers imports)."""
    procs = []
    for seed in HASH_SEEDS:
        env = {**os.environ, "PYTHONHASHSEED": seed, "HF_HUB_OFFLINE": "1"}
        cmd = [sys.executable, "-c", SAVE_STUDENT, str(root / seed)]
        procs.append(
            subprocess.Popen(
                cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        )
    outputs = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 0, stderr[-3000:]
        outputs.append(json.loads(stdout.strip().splitlines()[-1]))
    return outputs


@pytest.mark.slow  # two fresh interpreters importing torch, transformers and TRL: ~10-20 s
def test_student_dir_is_byte_identical_across_hash_seeds(tmp_path: Path) -> None:
    first, second = _save_students(tmp_path)
    assert f"adapter/{ADAPTER_CONFIG}" in first
    assert "model.safetensors" in first
    assert first == second
    saved = json.loads(
        (tmp_path / HASH_SEEDS[0] / "student" / "adapter" / ADAPTER_CONFIG).read_text()
    )
    assert saved["target_modules"] == ["k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]


def test_sort_adapter_sets_sorts_set_fields_only(tmp_path: Path) -> None:
    config = LoraConfig(target_modules=["v_proj", "q_proj", "k_proj"], layers_to_transform=[3, 1])
    written = {
        "target_modules": ["v_proj", "q_proj", "k_proj"],
        "layers_to_transform": [3, 1],
        "r": 8,
    }
    (tmp_path / ADAPTER_CONFIG).write_text(json.dumps(written))
    model = SimpleNamespace(peft_config={"default": config})

    assert sort_adapter_sets(model, tmp_path) == [tmp_path / ADAPTER_CONFIG]
    text = (tmp_path / ADAPTER_CONFIG).read_text()
    assert json.loads(text) == {
        "layers_to_transform": [3, 1],  # a list in the config: its order is kept
        "r": 8,
        "target_modules": ["k_proj", "q_proj", "v_proj"],
    }
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True)  # PEFT's layout


def test_sort_adapter_sets_ignores_models_without_peft_config(tmp_path: Path) -> None:
    assert sort_adapter_sets(SimpleNamespace(), tmp_path) == []
