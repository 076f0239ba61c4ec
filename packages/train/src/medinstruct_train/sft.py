"""LoRA supervised fine-tuning with TRL's SFTTrainer on prompt-completion rows.

The params section is translated into `peft.LoraConfig` and `trl.SFTConfig` by
pure functions (`to_lora_config`, `to_sft_config`) that tests check field by
field without loading weights. `train_sft` then runs the trainer and writes the
student directory atomically:

    out_dir/
      config.json, model.safetensors, tokenizer...   merged model (train.merge_adapter)
      adapter/                                       the LoRA adapter + tokenizer
      medinstruct_train.json                         resolved config, data counts, result

The same code runs under `accelerate launch` (DDP): only the main process
writes files or calls the step sink, and every process waits for it.
"""

from __future__ import annotations

import random
import resource
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from medinstruct_core.lineage import dir_md5
from medinstruct_core.params import Config
from medinstruct_core.records import Example
from medinstruct_train.artifacts import (
    atomic_dir,
    library_versions,
    read_sidecar,
    sort_adapter_sets,
    write_sidecar,
)
from medinstruct_train.base import BASE_META
from medinstruct_train.callbacks import LossHistory, StepSink, step_metrics
from medinstruct_train.checkpoints import (
    CompleteMarker,
    drop_incomplete,
    last_complete,
    rows_md5,
    run_key,
)
from medinstruct_train.launch import DistributedParams
from medinstruct_train.loading import ADAPTER_SUBDIR, TRAIN_META, load_tokenizer, merge_adapter
from medinstruct_train.packing import resolve_attn_implementation
from medinstruct_train.prompting import to_prompt_completion

DEFAULT_SEED = 42
DEFAULT_TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj")


class TrainError(RuntimeError):
    """Training cannot start with this configuration or data."""


class LoraParams(Config):
    """`train.lora`: the adapter shape (AlpaCare's LoRA runs use r=8, alpha=16 on attention)."""

    r: int = Field(8, ge=1)
    alpha: int = Field(16, ge=1)
    dropout: float = Field(0.05, ge=0.0, lt=1.0)
    target_modules: list[str] = Field(
        default_factory=lambda: list(DEFAULT_TARGET_MODULES), min_length=1
    )


class TrainConfig(DistributedParams):
    """The `train:` section of params.yaml (the launch keys come from DistributedParams)."""

    max_length: int = Field(512, ge=16)
    num_train_epochs: float = Field(2.0, gt=0.0)
    max_steps: int = Field(-1, description="> 0 overrides num_train_epochs")
    learning_rate: float = Field(2.0e-4, gt=0.0)
    per_device_train_batch_size: int = Field(4, ge=1)
    gradient_accumulation_steps: int = Field(2, ge=1)
    # "lora" trains an adapter (the default on CPU); "full" updates every weight,
    # as AlpaCare did (LLaMA 7B/13B, lr 2e-5): use it with the paper profile on GPUs.
    method: Literal["lora", "full"] = "lora"
    lora: LoraParams = Field(default_factory=LoraParams)
    warmup_ratio: float = Field(0.03, ge=0.0, lt=1.0)
    lr_scheduler_type: str = "cosine"
    weight_decay: float = Field(0.0, ge=0.0)
    max_grad_norm: float = Field(1.0, gt=0.0)
    logging_steps: int = Field(1, ge=1)
    eval_fraction: float = Field(
        0.0, ge=0.0, lt=1.0, description="held-out share for a final eval loss"
    )
    seed: int | None = Field(None, description="None = the top-level `seed`")
    gradient_checkpointing: bool = False
    bf16: bool | Literal["auto"] = "auto"
    qlora: bool = Field(False, description="4-bit NF4 base (bitsandbytes, CUDA only)")
    merge_adapter: bool = True
    # Packing: whole examples packed into max_length rows, attention kept per example
    # (padding-free, position_ids restart per example); see medinstruct_train.packing.
    packing: bool = False
    attn_implementation: str = Field(
        "auto", min_length=1, description="auto = flash_attention_2 if installed on GPU, else sdpa"
    )
    # Resumable runs: a complete checkpoint every save_steps optimizer steps, kept in
    # <checkpoint_dir>/<key>/ (outside the DVC outs); 0 turns checkpoints off.
    save_steps: int = Field(50, ge=0)
    save_total_limit: int = Field(2, ge=1)
    resume: bool = True
    checkpoint_dir: str = Field(".cache/train", min_length=1)
    keep_checkpoints: bool = Field(False, description="keep the cache after a successful run")

    @model_validator(mode="after")
    def _qlora_needs_lora(self) -> TrainConfig:
        if self.qlora and self.method != "lora":
            raise ValueError(
                "qlora: true needs method: lora (a 4-bit base cannot be fully fine-tuned)"
            )
        return self


class TrainResult(BaseModel):
    """What one SFT run did; written into medinstruct_train.json and metrics/train.json."""

    loss_history: list[dict[str, float]]
    eval_history: list[dict[str, float]] = Field(default_factory=list)
    final_loss: float
    train_loss: float
    eval_loss: float | None = None
    runtime_s: float
    steps: int
    epochs: float
    seconds_per_step: float
    tokens: int
    tokens_per_s: float
    n_train: int
    n_tokenized: int  # rows given to the trainer (rows_to_tokenize): n_train unless max_steps
    n_eval: int
    n_dropped: int
    n_truncated: int
    peak_rss_mb: float
    peak_gpu_mb: float | None = None
    device: str
    trainable_parameters: int
    total_parameters: int
    world_size: int = 1
    packed_rows: int | None = None
    resumed_from_step: int = 0
    checkpoint_key: str | None = None

    def summary(self) -> dict[str, float | int | str | None]:
        """Scalar fields only: the metrics file and MLflow metrics."""
        return self.model_dump(exclude={"loss_history", "eval_history"})

    def deterministic(self) -> dict[str, Any]:
        """The summary without timings, memory or device: what may go into a DVC out."""
        return self.model_dump(exclude=_RUN_DEPENDENT)


# Fields that differ between two runs of the same training (kept out of the student dir).
_RUN_DEPENDENT = {
    "loss_history", "eval_history", "runtime_s", "seconds_per_step", "tokens_per_s",
    "peak_rss_mb", "peak_gpu_mb", "device", "resumed_from_step",
}  # fmt: skip


def with_seed(cfg: TrainConfig, seed: int) -> TrainConfig:
    """Fill `train.seed` from the top-level seed unless the section sets its own."""
    return cfg if cfg.seed is not None else cfg.model_copy(update={"seed": seed})


def cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def resolve_precision(cfg: TrainConfig, use_cpu: bool) -> tuple[bool, bool]:
    """(bf16, fp16). "auto": bf16 where the GPU supports it, fp16 on older GPUs, fp32 on CPU."""
    if cfg.bf16 != "auto":
        return bool(cfg.bf16), False
    if use_cpu or not cuda_available():
        return False, False
    import torch

    bf16 = bool(torch.cuda.is_bf16_supported())
    return bf16, not bf16


def to_lora_config(cfg: TrainConfig) -> Any:
    """`train.lora` -> peft.LoraConfig for a causal LM."""
    from peft import LoraConfig

    return LoraConfig(
        r=cfg.lora.r,
        lora_alpha=cfg.lora.alpha,
        lora_dropout=cfg.lora.dropout,
        target_modules=list(cfg.lora.target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )


def checkpointing_kwargs(config_cls: Any, enabled: bool) -> dict[str, Any]:
    """transformers 5.2x renamed gradient_checkpointing to activation_checkpointing (old name warns)."""
    fields = getattr(config_cls, "__dataclass_fields__", {})
    name = (
        "activation_checkpointing"
        if "activation_checkpointing" in fields
        else "gradient_checkpointing"
    )
    return {name: enabled}


def to_sft_config(cfg: TrainConfig, output_dir: str | Path, use_cpu: bool) -> Any:
    """`train:` -> trl.SFTConfig; `output_dir` is the checkpoint cache of this run.

    Checkpoints are full (optimizer, scheduler, RNG) so a resumed run continues
    bit for bit; train_sft saves the final student itself.
    """
    from trl import SFTConfig

    bf16, fp16 = resolve_precision(cfg, use_cpu)
    seed = cfg.seed if cfg.seed is not None else DEFAULT_SEED
    return SFTConfig(
        output_dir=str(output_dir),
        max_length=cfg.max_length,
        num_train_epochs=cfg.num_train_epochs,
        max_steps=cfg.max_steps,
        learning_rate=cfg.learning_rate,
        per_device_train_batch_size=cfg.per_device_train_batch_size,
        per_device_eval_batch_size=cfg.per_device_train_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        warmup_steps=cfg.warmup_ratio,  # transformers 5: a float < 1 is a ratio (warmup_ratio is gone)
        lr_scheduler_type=cfg.lr_scheduler_type,
        weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm,
        logging_steps=cfg.logging_steps,
        seed=seed,
        data_seed=seed,
        **checkpointing_kwargs(SFTConfig, cfg.gradient_checkpointing),
        bf16=bf16,
        fp16=fp16,
        use_cpu=use_cpu,
        dataloader_pin_memory=not use_cpu,
        completion_only_loss=True,
        packing=cfg.packing,
        packing_strategy="bfd",
        padding_free=cfg.packing,
        report_to="none",
        save_strategy="steps" if cfg.save_steps > 0 else "no",
        save_steps=max(cfg.save_steps, 1),
        save_total_limit=cfg.save_total_limit,
        save_only_model=False,
        eval_strategy="no",
        include_num_input_tokens_seen="non_padding",
        ddp_find_unused_parameters=False,
        disable_tqdm=True,
    )


def check_examples(examples: Sequence[Example]) -> None:
    """Refuse an empty train set or an answerless example (curation should have dropped it)."""
    if not examples:
        raise TrainError("the train set is empty")
    for index, example in enumerate(examples):
        if not example.output.strip():
            raise TrainError(f"examples[{index}] (id={example.id}): field 'output' is empty")


def split_eval(
    rows: list[dict[str, str]], fraction: float, seed: int
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Hold out round(fraction * n) rows (at least 1, never all) with a seeded shuffle."""
    if fraction <= 0.0 or len(rows) < 2:
        return rows, []
    n_eval = min(max(1, round(fraction * len(rows))), len(rows) - 1)
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    held = set(order[:n_eval])
    train = [row for i, row in enumerate(rows) if i not in held]
    return train, [row for i, row in enumerate(rows) if i in held]


def rows_a_run_sees(cfg: TrainConfig, world_size: int) -> int | None:
    """Rows a `max_steps` run can draw from its data loader, or None when it sees them all.

    max_steps optimizer steps x per-device batch x gradient accumulation x processes
    (rows per optimizer step over all ranks). Packing is excluded: a packed row holds
    several examples, and how many is known only after tokenizing them all.
    """
    if cfg.max_steps <= 0 or cfg.packing:
        return None
    per_step = cfg.per_device_train_batch_size * cfg.gradient_accumulation_steps * world_size
    return cfg.max_steps * per_step


def rows_to_tokenize(
    rows: list[dict[str, str]], limit: int | None, seed: int
) -> list[dict[str, str]]:
    """The rows handed to the trainer: all of them, or `limit` drawn with a seeded sample.

    Why: TRL tokenizes the whole train set before the first step, so a 4-step run on
    51,750 rows spent ~100 s of CPU tokenizing rows it never trains on. A run of
    `max_steps` sees at most `limit` rows; a seeded uniform sample of that many (kept in
    file order, the trainer shuffles them with its own seed) is what it would have drawn
    from the whole set, in distribution, and the same rows on every run with this seed.
    `n_train` still counts every row; `n_tokenized` says how many the trainer got.
    """
    if limit is None or limit >= len(rows):
        return rows
    keep = sorted(random.Random(seed).sample(range(len(rows)), limit))
    return [rows[i] for i in keep]


def quantization_config(cfg: TrainConfig, use_cpu: bool) -> Any:
    """4-bit NF4 (QLoRA) when asked; it needs CUDA and bitsandbytes."""
    if not cfg.qlora:
        return None
    if use_cpu:
        raise TrainError("train.qlora: true needs a CUDA GPU (and `pip install bitsandbytes`)")
    import torch
    from transformers import BitsAndBytesConfig

    bf16, _ = resolve_precision(cfg, use_cpu)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16 if bf16 else torch.float16,
    )


def load_training_model(base_dir: Path, cfg: TrainConfig, use_cpu: bool) -> Any:
    """The base model as saved by prepare_base_model (its dtype), or 4-bit for QLoRA."""
    from transformers import AutoModelForCausalLM

    attn = resolve_attn_implementation(
        cfg.attn_implementation, packing=cfg.packing, use_cpu=use_cpu
    )
    kwargs: dict[str, Any] = {"dtype": "auto", "attn_implementation": attn}
    quant = quantization_config(cfg, use_cpu)
    if quant is not None:
        from accelerate import PartialState
        from peft import prepare_model_for_kbit_training

        kwargs["quantization_config"] = quant
        kwargs["device_map"] = {
            "": PartialState().local_process_index
        }  # one full copy per DDP rank
        model = AutoModelForCausalLM.from_pretrained(str(base_dir), **kwargs)
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=cfg.gradient_checkpointing
        )
    else:
        model = AutoModelForCausalLM.from_pretrained(str(base_dir), **kwargs)
    model.config.use_cache = False  # the KV cache is useless (and warned about) during training
    return model


def build_trainer(
    cfg: TrainConfig,
    base_dir: Path,
    tokenizer: Any,
    rows: tuple[list[dict[str, str]], list[dict[str, str]]],
    scratch: Path,
    callbacks: Sequence[Any],
) -> Any:
    from datasets import Dataset
    from trl import SFTTrainer

    use_cpu = not cuda_available()
    train_rows, eval_rows = rows
    return SFTTrainer(
        model=load_training_model(base_dir, cfg, use_cpu),
        args=to_sft_config(cfg, scratch, use_cpu),
        train_dataset=Dataset.from_list(train_rows),
        eval_dataset=Dataset.from_list(eval_rows) if eval_rows else None,
        processing_class=tokenizer,
        peft_config=to_lora_config(cfg) if cfg.method == "lora" else None,
        callbacks=list(callbacks),
    )


def peak_memory() -> tuple[float, float | None]:
    """(peak RSS of this process in MiB, peak CUDA memory in MiB or None)."""
    import torch

    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rss_mb = rss_kb / (1024 * 1024) if sys.platform == "darwin" else rss_kb / 1024
    gpu = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None
    return round(rss_mb, 1), None if gpu is None else round(gpu, 1)


def count_params(model: Any) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())


def dataset_counts(trainer: Any, n_rows: int, max_length: int) -> tuple[int, int, int | None]:
    """(rows TRL dropped, rows cut at max_length, packed rows or None when not packing)."""
    dataset = trainer.train_dataset
    if "seq_lengths" in dataset.column_names:
        lengths = [n for row in dataset["seq_lengths"] for n in row]
        packed: int | None = len(dataset)
    else:
        lengths, packed = [len(ids) for ids in dataset["input_ids"]], None
    return n_rows - len(lengths), sum(1 for n in lengths if n >= max_length), packed


def history_from_state(log_history: Sequence[dict[str, Any]]) -> tuple[list[dict], list[dict]]:
    """(train points, eval points) from the Trainer's log history.

    The state's history, not the callback's, because a resumed run restores the
    history of the steps done before the crash from the checkpoint.
    """
    points: list[dict[str, float]] = []
    evals: list[dict[str, float]] = []
    for record in log_history:
        metrics = step_metrics(record)
        if "loss" in record:
            points.append({**metrics, "step": float(record["step"])})
        elif "eval_loss" in record:
            evals.append({**metrics, "step": float(record["step"])})
    return points, evals


def collect_result(
    trainer: Any, output: Any, counts: dict[str, Any], eval_loss: float | None
) -> TrainResult:
    state = trainer.state
    runtime = float(output.metrics.get("train_runtime", 0.0))
    tokens = int(getattr(state, "num_input_tokens_seen", 0) or 0)
    trainable, total = count_params(trainer.model)
    rss, gpu = peak_memory()
    points, evals = history_from_state(state.log_history)
    final = points[-1]["loss"] if points else float(output.training_loss)
    return TrainResult(
        loss_history=[{"step": int(p["step"]), "loss": p["loss"]} for p in points],
        eval_history=evals,
        final_loss=final,
        train_loss=float(output.training_loss),
        eval_loss=eval_loss,
        runtime_s=round(runtime, 3),
        steps=int(state.global_step),
        # Over the whole train set, not the rows the trainer was given.
        epochs=float(state.epoch or 0.0) * counts["n_tokenized"] / max(1, counts["n_train"]),
        seconds_per_step=round(runtime / max(1, state.global_step), 4),
        tokens=tokens,
        tokens_per_s=round(tokens / runtime, 2) if runtime > 0 else 0.0,
        peak_rss_mb=rss,
        peak_gpu_mb=gpu,
        device=str(trainer.args.device),
        trainable_parameters=trainable,
        total_parameters=total,
        world_size=int(trainer.args.world_size),
        **counts,
    )


def base_metadata(base_dir: Path) -> dict[str, Any]:
    """The base model's sidecar if it has one (a hand-made base dir may not)."""
    if not (base_dir / BASE_META).is_file():
        return {}
    return read_sidecar(base_dir, BASE_META)


def save_student(
    trainer: Any, cfg: TrainConfig, base_dir: Path, out_dir: Path, meta: dict[str, Any]
) -> None:
    """Adapter, merged model (reloaded from the base so QLoRA merges into full precision) and sidecar."""
    tokenizer = trainer.processing_class
    if cfg.method == "full":
        with atomic_dir(out_dir) as staging:
            trainer.model.config.use_cache = True
            trainer.model.save_pretrained(staging)
            tokenizer.save_pretrained(staging)
            write_sidecar(staging, TRAIN_META, meta)
        return
    with atomic_dir(out_dir) as staging:
        trainer.model.save_pretrained(staging / ADAPTER_SUBDIR)
        sort_adapter_sets(trainer.model, staging / ADAPTER_SUBDIR)  # byte-identical reruns
        tokenizer.save_pretrained(staging / ADAPTER_SUBDIR)
        if cfg.merge_adapter:
            merged = merge_adapter(base_dir, staging / ADAPTER_SUBDIR)
            merged.config.use_cache = True
            merged.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        write_sidecar(staging, TRAIN_META, meta)


def checkpoint_run_dir(
    cfg: TrainConfig, base_dir: Path, rows: Sequence[dict[str, str]], data_md5: str | None
) -> tuple[Path, str]:
    """(<checkpoint_dir>/<key>, key): the key hashes base weights, data and train params."""
    base_md5 = dir_md5(base_dir) if cfg.save_steps > 0 else "unhashed"
    key = run_key(base_md5, data_md5 or rows_md5(rows), cfg.model_dump(mode="json"))
    return Path(cfg.checkpoint_dir) / key, key


def resume_point(trainer: Any, cfg: TrainConfig, run_dir: Path) -> Path | None:
    """The last complete checkpoint to resume from (after deleting half-written ones), or None."""
    if cfg.save_steps == 0 or not cfg.resume:
        return None
    if trainer.is_world_process_zero():
        for path in drop_incomplete(run_dir):
            print(f"train: deleted incomplete checkpoint {path}", flush=True)
    trainer.accelerator.wait_for_everyone()
    checkpoint = last_complete(run_dir)
    if trainer.is_world_process_zero():
        if checkpoint is None:
            print(f"train: no complete checkpoint in {run_dir}; starting at step 0", flush=True)
        else:
            print(
                f"train: resuming from {checkpoint} (step {checkpoint_step(checkpoint)})",
                flush=True,
            )
    return checkpoint


def checkpoint_step(checkpoint: Path | None) -> int:
    return 0 if checkpoint is None else int(checkpoint.name.rsplit("-", 1)[1])


def train_sft(
    cfg: TrainConfig,
    base_dir: str | Path,
    examples: Sequence[Example],
    out_dir: str | Path,
    *,
    on_log: StepSink | None = None,
    callbacks: Sequence[Any] = (),
    data_md5: str | None = None,
) -> TrainResult:
    """Fine-tune `base_dir` on `examples` (loss on the answers only); save the student to `out_dir`.

    Resumes from the last complete checkpoint of the same run (same base, data
    and params; `data_md5` defaults to a hash of the rows) and prints so.
    Under `accelerate launch` only the main process writes the student.
    With `max_steps > 0` (and no packing) only the rows the run can draw are given to
    the trainer and tokenized (`rows_to_tokenize`); `n_dropped` and `n_truncated` then
    count over those rows, `n_train` over all of them.
    """
    check_examples(examples)
    base_dir, out_dir = Path(base_dir), Path(out_dir)
    seed = cfg.seed if cfg.seed is not None else DEFAULT_SEED
    tokenizer = load_tokenizer(base_dir)
    rows = [to_prompt_completion(example, tokenizer.eos_token) for example in examples]
    train_rows, eval_rows = split_eval(rows, cfg.eval_fraction, seed)
    given = rows_to_tokenize(train_rows, rows_a_run_sees(cfg, _world_size()), seed)
    run_dir, key = checkpoint_run_dir(cfg, base_dir, rows, data_md5)
    extra = [LossHistory(sink=on_log), CompleteMarker(), *callbacks]
    trainer = build_trainer(cfg, base_dir, tokenizer, (given, eval_rows), run_dir, extra)
    checkpoint = resume_point(trainer, cfg, run_dir)
    output = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    dropped, truncated, packed = dataset_counts(trainer, len(given), cfg.max_length)
    counts = {
        "n_train": len(train_rows),
        "n_tokenized": len(given),
        "n_eval": len(eval_rows),
        "n_dropped": dropped,
        "n_truncated": truncated,
        "packed_rows": packed,
        "resumed_from_step": checkpoint_step(checkpoint),
        "checkpoint_key": key if cfg.save_steps > 0 else None,
    }
    result = collect_result(trainer, output, counts, _final_eval(trainer))
    if trainer.is_world_process_zero():
        save_student(trainer, cfg, base_dir, out_dir, _train_meta(cfg, base_dir, trainer, result))
        if not cfg.keep_checkpoints:
            shutil.rmtree(run_dir, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
    return result


def _world_size() -> int:
    """Processes in this run (accelerate's state, which the Trainer builds the same way)."""
    from accelerate import PartialState

    return int(PartialState().num_processes)


def _final_eval(trainer: Any) -> float | None:
    if trainer.eval_dataset is None:
        return None
    return float(trainer.evaluate()["eval_loss"])


def _train_meta(
    cfg: TrainConfig, base_dir: Path, trainer: Any, result: TrainResult
) -> dict[str, Any]:
    """How the student was made (the nanoGPT habit), with deterministic content only.

    The sidecar lives in a DVC out: no timings, memory, device or cache paths,
    so two runs of the same training give the same directory hash.
    """
    return {
        "config": cfg.model_dump(mode="json"),
        "base_dir": str(base_dir),
        "base": base_metadata(base_dir),
        "sft_config": {
            k: v
            for k, v in trainer.args.to_dict().items()
            if _jsonable(v) and k not in _RUN_DEPENDENT_ARGS
        },
        "prompt_format": "alpaca",
        "merged": cfg.merge_adapter,
        "result": result.deterministic(),
        "loss_history": result.loss_history,
        "versions": library_versions(),
    }


# SFTConfig fields that name machine-local paths or devices rather than the training.
_RUN_DEPENDENT_ARGS = {"output_dir", "logging_dir", "run_name", "use_cpu", "dataloader_pin_memory"}


def _jsonable(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool | list | dict)
