"""Answer eval items with a local causal LM: the base model or the tuned student.

Each model is prompted the way it expects (fair prompting): the student through
the Alpaca template it was trained on (medinstruct_train.prompting), an instruct
base model through its tokenizer's own chat template. Which one was used, and the
exact prompt, are kept with every answer (`ModelAnswers`, answers.jsonl).
Models behind an endpoint (or a GGUF served by llama.cpp) answer through the
one LLM client instead: see `remote.py`.

Greedy decoding, float32 and left padding make the answers a pure function of
the model directory and the items, so a re-run (or a DVC cache check) sees the
same text. Items are batched longest-first: similar lengths waste less compute
on padding, and the slowest batch comes first, so a too-large batch fails fast.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import ConfigDict

from medinstruct_core.records import EvalItem, Record
from medinstruct_eval.config import Device, EvaluateConfig, PromptFormat
from medinstruct_eval.judge import question_text
from medinstruct_train.artifacts import ModelDirError
from medinstruct_train.loading import (
    ADAPTER_SUBDIR,
    TRAIN_META,
    adapter_dir,
    has_weights,
    torch_threads,
)
from medinstruct_train.loading import load_model as train_load_model
from medinstruct_train.prompting import format_prompt

log = logging.getLogger(__name__)

# A model that has not learned to stop (the base model) goes on to write the
# next Alpaca turn; everything from the next section header on is not the answer.
STOP_MARKERS = ("### Instruction:", "### Input:", "### Response:")
UsedFormat = Literal["alpaca", "chat_template", "none"]
ALPACA: Final = "alpaca"
CHAT_TEMPLATE: Final = "chat_template"
BARE: Final = "none"


class CandidateAnswer(Record):
    """One model's answer to one eval item (a row of answers.jsonl), with the prompt it answered.

    Whitespace is kept as is: the prompt must be the exact string the model saw
    (a template's trailing newline matters), and answers are already trimmed.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    item_id: str
    candidate: str
    answer: str
    model_dir: str = ""
    prompt_format: str = ""
    prompt: str = ""


@dataclass(frozen=True)
class ModelAnswers:
    """One model's answers in item order, the template used and each exact prompt."""

    texts: list[str]
    prompt_format: UsedFormat
    prompts: list[str]


def has_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def is_tuned(model_dir: str | Path) -> bool:
    """A model this project fine-tuned: its directory carries train's sidecar."""
    return (Path(model_dir) / TRAIN_META).is_file()


def resolve_prompt_format(
    tokenizer: Any, requested: PromptFormat, where: str = "", *, tuned: bool = False
) -> UsedFormat:
    """auto = Alpaca for a model tuned on it (`tuned`), else the tokenizer's chat template
    when it has one, else Alpaca; `none` = the bare question, no template at all."""
    if requested == ALPACA or (requested == "auto" and tuned):
        return ALPACA
    if requested == BARE:
        return BARE
    if has_chat_template(tokenizer):
        return CHAT_TEMPLATE
    if requested == "chat":
        raise ModelDirError(
            f"{where or 'model'}: prompt format 'chat' but the tokenizer has no chat template"
        )
    return ALPACA


def render_prompts(
    tokenizer: Any, items: Sequence[EvalItem], prompt_format: UsedFormat
) -> list[str]:
    """The prompts as the model will see them (before tokenization).

    The chat template gets one user turn holding the question exactly as the
    judge sees it (instruction, blank line, input), plus the generation prompt;
    `none` is that question alone.
    """
    if prompt_format == ALPACA:
        return [format_prompt(item.instruction, item.input) for item in items]
    if prompt_format == BARE:
        return [question_text(item) for item in items]
    return [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": question_text(item)}],
            tokenize=False,
            add_generation_prompt=True,
        )
        for item in items
    ]


def resolve_model_dir(path: str | Path) -> Path:
    """Check early (before any model loads) that `path` is a model directory train can load.

    The contract is medinstruct_train's: a directory with a transformers
    `config.json` (models/base; models/student with the LoRA merged in, the
    default), or a student holding only `adapter/` plus the
    `medinstruct_train.json` sidecar naming its base (train.merge_adapter: false),
    which `medinstruct_train.loading.load_model` merges on load.
    """
    path = Path(path)
    if not path.is_dir():
        raise ModelDirError(f"{path}: model directory not found")
    if not (has_weights(path) or adapter_dir(path) is not None):
        raise ModelDirError(
            f"{path}: neither model weights (config.json) nor {ADAPTER_SUBDIR}/ found"
        )
    return path


def pick_device(device: Device = "auto") -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("evaluate.device is 'cuda' but no CUDA device is available")
    return device


def load_model(model_dir: str | Path, device: str = "cpu") -> tuple[Any, Any]:
    """float32 model in eval mode on `device`, tokenizer padding on the left (batched generation)."""
    import torch

    path = resolve_model_dir(model_dir)
    return train_load_model(path, dtype=torch.float32, device=device, padding_side="left")


def clean_answer(text: str) -> str:
    """Cut at the first Alpaca section header and trim whitespace."""
    cut = len(text)
    for marker in STOP_MARKERS:
        found = text.find(marker)
        if found != -1:
            cut = min(cut, found)
    return text[:cut].strip()


def _eos_ids(model: Any, tokenizer: Any) -> list[int]:
    """Every id that ends an answer: the tokenizer's EOS and the model's own list."""
    ids = [tokenizer.eos_token_id]
    configured = model.generation_config.eos_token_id
    ids.extend(configured if isinstance(configured, list) else [configured])
    return sorted({i for i in ids if i is not None})


def _generate_batch(
    model: Any, tokenizer: Any, prompts: list[str], config: Any, special: bool = True
) -> list[str]:
    """`special`: add BOS etc. (a chat template already wrote its own special tokens)."""
    import torch

    encoded = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=special).to(
        model.device
    )
    with torch.inference_mode():
        output = model.generate(**encoded, generation_config=config)
    new_tokens = output[:, encoded["input_ids"].shape[1] :]  # left padding: prompts end together
    texts = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
    return [clean_answer(t) for t in texts]


def generate_answers(
    model_dir: str | Path,
    items: Sequence[EvalItem],
    max_new_tokens: int,
    batch_size: int,
    *,
    device: Device = "auto",
    threads: int = 0,
    prompt_format: PromptFormat = "alpaca",
) -> list[str]:
    """Greedy answers to `items`, in input order, with the prompt stripped."""
    return answer_model(
        model_dir, items, max_new_tokens, batch_size,
        device=device, threads=threads, prompt_format=prompt_format,
    ).texts  # fmt: skip


def answer_model(
    model_dir: str | Path,
    items: Sequence[EvalItem],
    max_new_tokens: int,
    batch_size: int,
    *,
    device: Device = "auto",
    threads: int = 0,
    prompt_format: PromptFormat = "alpaca",
) -> ModelAnswers:
    """Greedy answers plus the template used and the exact prompts (nothing loads for no items)."""
    answers = answer_sets(model_dir, {"": items}, max_new_tokens, batch_size,
                          device=device, threads=threads, prompt_format=prompt_format)  # fmt: skip
    return answers[""]


def answer_sets(
    model_dir: str | Path,
    sets: Mapping[str, Sequence[EvalItem]],
    max_new_tokens: int,
    batch_size: int,
    *,
    device: Device = "auto",
    threads: int = 0,
    prompt_format: PromptFormat = "alpaca",
) -> dict[str, ModelAnswers]:
    """One model's answers to every eval set, loading it once (nothing loads for no items)."""
    if not any(sets.values()):
        unused: dict[str, UsedFormat] = {"chat": CHAT_TEMPLATE, "none": BARE}
        return {name: ModelAnswers([], unused.get(prompt_format, ALPACA), []) for name in sets}
    with torch_threads(threads):
        model, tokenizer = load_model(model_dir, pick_device(device))
        config = _greedy_config(model, tokenizer, max_new_tokens)
        used = resolve_prompt_format(tokenizer, prompt_format, str(model_dir),
                                     tuned=is_tuned(model_dir))  # fmt: skip
        return {
            name: _generate_all(model, tokenizer, config, items, batch_size, used)
            for name, items in sets.items()
        }


def _greedy_config(model: Any, tokenizer: Any, max_new_tokens: int) -> Any:
    """Overrides the model's own generation_config (an instruct model may ship sampling)."""
    from transformers import GenerationConfig

    return GenerationConfig(
        max_new_tokens=max_new_tokens, do_sample=False, num_beams=1,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=_eos_ids(model, tokenizer),
    )  # fmt: skip


def _longest_first(tokenizer: Any, prompts: Sequence[str], special: bool = True) -> list[int]:
    lengths = [len(tokenizer(p, add_special_tokens=special)["input_ids"]) for p in prompts]
    return sorted(range(len(prompts)), key=lambda i: (-lengths[i], i))


def _generate_all(
    model: Any,
    tokenizer: Any,
    config: Any,
    items: Sequence[EvalItem],
    batch_size: int,
    used: UsedFormat,
) -> ModelAnswers:
    prompts = render_prompts(tokenizer, items, used)
    special = used != CHAT_TEMPLATE  # a chat template writes its own special tokens
    order = _longest_first(tokenizer, prompts, special)
    answers = [""] * len(prompts)
    started = time.monotonic()
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        texts = _generate_batch(model, tokenizer, [prompts[i] for i in batch], config, special)
        for index, text in zip(batch, texts, strict=True):
            answers[index] = text
        done = min(start + batch_size, len(order))
        log.info("answered %d/%d items (%.1f s)", done, len(order), time.monotonic() - started)
    return ModelAnswers(answers, used, prompts)


def answer_candidates(
    model_dirs: Mapping[str, Path], items: Sequence[EvalItem], cfg: EvaluateConfig
) -> tuple[dict[str, ModelAnswers], dict[str, float]]:
    """Every local candidate's answers to one item list, each through its own template
    (`cfg.candidates[].template`), one model in memory at a time, and seconds per candidate."""
    answers: dict[str, ModelAnswers] = {}
    seconds: dict[str, float] = {}
    for name, model_dir in model_dirs.items():
        started = time.monotonic()
        answers[name] = answer_model(
            model_dir, items, cfg.max_new_tokens, cfg.batch_size, device=cfg.device,
            threads=cfg.torch_threads, prompt_format=cfg.template(name),
        )  # fmt: skip
        seconds[f"answer_{name}_s"] = round(time.monotonic() - started, 2)
    return answers, seconds
