"""export-model: linked student files, the card's metadata and model-index round-trip."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from huggingface_hub import ModelCard, ModelCardData

from medinstruct_core.lineage import dir_md5
from medinstruct_publish import evaluation as ev
from medinstruct_publish import folder
from medinstruct_publish import model as md
from medinstruct_publish.workspace import PublishError
from medinstruct_train.prompting import format_prompt
from tests.publish.conftest import METRICS

CFG = md.ModelExportConfig()
STUDENT_FILES = [
    "README.md",
    "adapter/adapter_config.json",
    "config.json",
    "eval/report.md",
    "eval/win_rates.png",
    "medinstruct_train.json",
    "model.safetensors",
    "tokenizer.json",
]


def test_export_links_the_student_and_leaves_it_unchanged(workspace: Path) -> None:
    student = workspace / "models/student"
    before = dir_md5(student)
    out = workspace / "exports/model"
    files = md.export_model(workspace, out, CFG)
    assert [name for name, _ in files] == STUDENT_FILES
    assert (out / "model.safetensors").stat().st_ino == (
        student / "model.safetensors"
    ).stat().st_ino
    assert "peft template" not in (out / "README.md").read_text()  # the card replaced it
    assert dir_md5(student) == before


def test_copy_when_links_are_impossible(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_links(src: object, dst: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_links)
    out = workspace / "exports/model"
    md.export_model(workspace, out, CFG)
    student = workspace / "models/student/model.safetensors"
    assert (out / "model.safetensors").read_bytes() == student.read_bytes()
    assert (out / "model.safetensors").stat().st_ino != student.stat().st_ino


def test_other_link_errors_are_not_hidden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(src: object, dst: object) -> None:
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(os, "link", broken)
    (tmp_path / "a").write_text("x")
    with pytest.raises(OSError, match="I/O error"):
        folder.link_or_copy(tmp_path / "a", tmp_path / "b")


def test_card_metadata_round_trips_with_model_index(workspace: Path) -> None:
    out = workspace / "exports/model"
    cfg = md.ModelExportConfig(dataset_repo="someone/medinstruct")
    md.export_model(workspace, out, cfg)
    data = ModelCard.load(out / "README.md").data
    assert data.base_model == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert data.datasets == ["someone/medinstruct"]
    assert (data.license, data.language, data.pipeline_tag) == (
        "apache-2.0",
        ["en"],
        "text-generation",
    )
    assert data.library_name == "transformers"
    assert "medical" in data.tags
    assert data.model_name == "medinstruct-student"
    results = {(r.dataset_name, r.metric_type): r.metric_value for r in data.eval_results}
    assert results == {
        ("medinstruct held-out set (reference: medinstruct)", "win_rate"): 0.3333,
        ("medqa", "acc"): 0.25,
        ("mmlu_anatomy", "acc"): 0.5,
    }
    mmlu = next(r for r in data.eval_results if r.dataset_name == "mmlu_anatomy")
    assert (mmlu.dataset_type, mmlu.dataset_config, mmlu.dataset_split) == (
        "cais/mmlu",
        "anatomy",
        "test",
    )
    assert mmlu.dataset_args == {"num_few_shot": 0}
    raw = data.to_dict()
    assert ModelCardData(**raw).to_dict() == raw


def test_card_body_reports_intervals_hyperparameters_and_limits(workspace: Path) -> None:
    out = workspace / "exports/model"
    md.export_model(workspace, out, CFG)
    text = (out / "README.md").read_text()
    assert "| medinstruct | student | 0.333 [0.000, 0.500] | 0.519 [0.200, 0.800] | 0 | 3 |" in text
    assert "| medinstruct | student - base | 0.167 [0.000, 0.500] | - | - | - |" in text
    assert "| mmlu_anatomy | 0.250 ± 0.250 (n=4) | 0.500 ± 0.289 (n=4) |" in text
    # the sidecar's config (lr 3e-4) wins over dvc.lock's (2e-4); launch keys are left out
    assert "| learning_rate | 0.0003 |" in text
    assert "distributed" not in text and "save_steps" not in text
    assert "| mean training loss | 1.313 |" in text
    assert repr(format_prompt("List three red-flag symptoms of a headache.")) in text
    assert "Not for clinical decisions" in text
    assert "5 examples" in text


def test_without_sidecar_hyperparameters_come_from_dvc_lock(workspace: Path) -> None:
    (workspace / "models/student/medinstruct_train.json").unlink()
    (workspace / "dvc.lock").unlink()  # the student's md5 changed; the lock no longer applies
    facts = md.gather_facts(md.Workspace(root=workspace), CFG)
    assert facts.hyperparameters_source == "params.yaml"
    assert facts.hyperparameters["learning_rate"] == "0.0002"
    assert "save_steps" not in facts.hyperparameters
    # the base sidecar beside models/base still names the base model
    assert facts.base_hub_id == "HuggingFaceTB/SmolLM2-135M-Instruct"


def test_not_a_model_directory(workspace: Path) -> None:
    with pytest.raises(PublishError, match=r"models/nothing: no config\.json"):
        md.export_model(workspace, workspace / "x", md.ModelExportConfig(student="models/nothing"))


def test_metric_parsing_keeps_every_interval() -> None:
    rates = ev.win_rates(METRICS["evaluate"])
    assert [(w.model, w.win_rate, w.ci_high, w.items) for w in rates] == [
        ("base", 0.1667, 0.5, None),
        ("student", 0.3333, 0.5, 3),
    ]
    scores = ev.mcq_scores(METRICS["evaluate"])
    assert [(s.model, s.benchmark, s.stderr, s.n) for s in scores] == [
        ("base", "mmlu_anatomy", 0.25, 4),
        ("student", "medqa", 0.25, 4),
        ("student", "mmlu_anatomy", 0.288675, 4),
    ]


def test_cli(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = workspace / "exports/model"
    assert md.main(["--root", str(workspace), "--out", str(out), "--model-name", "tiny"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == len(STUDENT_FILES)
    assert ModelCard.load(out / "README.md").data.model_name == "tiny"
