"""What the rehearsal hands its stages, and how the report words the train stage."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.rehearsal_report import evaluate_lines
from benchmarks.rehearse import stage_env


def test_stages_cache_bytecode_in_the_scratch_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    env = stage_env(tmp_path, "http://127.0.0.1:1/v1")
    assert "PYTHONDONTWRITEBYTECODE" not in env
    assert env["PYTHONPYCACHEPREFIX"] == str(tmp_path / ".rehearsal" / "pycache")
    assert env["OPENAI_BASE_URL"] == "http://127.0.0.1:1/v1"


def test_train_line_says_how_many_rows_were_tokenized() -> None:
    lines = evaluate_lines({"train": {"steps": 4, "n_train": 51750, "n_tokenized": 8}})
    assert lines == [
        "- train: 4 steps on 51,750 examples (CPU-sized; 8 of them tokenized: "
        "the rows 4 steps can draw)"
    ]
