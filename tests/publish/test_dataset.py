"""export-dataset: folder layout, the card's metadata round-trip, and load_dataset offline."""

from __future__ import annotations

from pathlib import Path

import pytest
from huggingface_hub import DatasetCard, DatasetCardData

from medinstruct_core.io import DataError
from medinstruct_core.lineage import file_md5
from medinstruct_publish import dataset as ds
from medinstruct_publish.workspace import PublishError
from tests.publish.conftest import N_REJECTED, N_TRAIN

FAST = ds.DatasetExportConfig(check=False)  # the self-check loads with `datasets` (~2 s)


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """What HF_DATASETS_OFFLINE=1 / HF_HUB_OFFLINE=1 do; both libraries read them at import."""
    import datasets
    from huggingface_hub import constants

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)


def test_export_writes_the_card_and_byte_identical_splits(workspace: Path) -> None:
    out = workspace / "exports/dataset"
    files = ds.export_dataset(workspace, out, FAST)
    assert [name for name, _ in files] == ["README.md", "data/train.jsonl", "rejected/train.jsonl"]
    assert file_md5(out / "data/train.jsonl") == file_md5(workspace / "data/curated/train.jsonl")
    assert file_md5(out / "rejected/train.jsonl") == file_md5(
        workspace / "data/curated/rejected.jsonl"
    )
    assert not list(out.parent.glob(".dataset.*"))  # no staging folder left behind
    assert (
        out / "data/train.jsonl"
    ).stat().st_nlink == 1  # a copy: editing the source cannot change it


def test_card_metadata_round_trips(workspace: Path) -> None:
    out = workspace / "exports/dataset"
    ds.export_dataset(workspace, out, FAST)
    card = DatasetCard.load(out / "README.md")
    data = card.data.to_dict()
    assert data["license"] == "cc-by-nc-4.0"
    assert data["language"] == ["en"]
    assert data["task_categories"] == ["text-generation", "question-answering"]
    assert data["size_categories"] == ["n<1K"]
    assert data["pretty_name"] == "MedInstruct (medinstruct pipeline)"
    assert [c["config_name"] for c in data["configs"]] == ["default", "rejected"]
    assert DatasetCardData(**data).to_dict() == data


def test_card_states_the_provenance(workspace: Path) -> None:
    out = workspace / "exports/dataset"
    ds.export_dataset(workspace, out, FAST)
    text = (out / "README.md").read_text()
    seeds_md5 = file_md5(workspace / "data/seeds/seed_tasks.jsonl")
    assert f"`data/seeds/seed_tasks.jsonl`, 3 tasks, md5 `{seeds_md5}` (= dvc.lock)" in text
    assert "| teacher | qwen2.5-coder-1.5b (Qwen/Qwen2.5-Coder-1.5B-Instruct) | embedded" in text
    assert "presence_penalty=1.5, temperature=1.0" in text
    assert "| curate | examples kept (the training set) | 5 |" in text
    assert "| curate | unsafe_phi | 1 |" in text
    assert "| gate | passed |" in text
    train_md5 = file_md5(workspace / "data/curated/train.jsonl")
    assert f"| `data/curated/train.jsonl` | `{train_md5}` (= dvc.lock) |" in text
    assert "not reviewed by clinicians" in text


def test_load_dataset_reads_the_export_offline(workspace: Path, offline: None) -> None:
    import datasets

    out = workspace / "exports/dataset"
    ds.export_dataset(workspace, out, ds.DatasetExportConfig(check=True))
    cache = str(workspace / "hf-cache")
    train = datasets.load_dataset(str(out), split="train", cache_dir=cache)
    assert train.num_rows == N_TRAIN
    assert train.column_names[:7] == [
        "type",
        "topic",
        "view",
        "difficulty",
        "instruction",
        "input",
        "id",
    ]
    assert train[0]["usage"] == {"prompt_tokens": 50, "completion_tokens": 20}
    rejected = datasets.load_dataset(str(out), "rejected", split="train", cache_dir=cache)
    assert rejected.num_rows == N_REJECTED
    assert rejected["reason"] == ["truncated", "unsafe_phi"]


def test_without_rejected_only_the_default_config(workspace: Path) -> None:
    out = workspace / "exports/dataset"
    cfg = ds.DatasetExportConfig(check=False, include_rejected=False)
    files = ds.export_dataset(workspace, out, cfg)
    assert [name for name, _ in files] == ["README.md", "data/train.jsonl"]
    configs = DatasetCard.load(out / "README.md").data.to_dict()["configs"]
    assert [c["config_name"] for c in configs] == ["default"]


def test_mlflow_tags_of_the_generating_run_set_the_endpoint_kind(workspace: Path) -> None:
    calls: list[str] = []

    def lookup(path: str, md5: str) -> dict[str, str]:
        calls.append(path)
        if path == "data/generated/instructions.jsonl":
            return {"llm.teacher.kind": "remote", "mlflow.run_id": "run42"}
        return {}

    out = workspace / "exports/dataset"
    ds.export_dataset(workspace, out, FAST, lookup)
    text = (out / "README.md").read_text()
    assert calls == ["data/generated/instructions.jsonl", "data/generated/examples.jsonl"]
    assert (
        "| teacher | qwen2.5-coder-1.5b (Qwen/Qwen2.5-Coder-1.5B-Instruct) | remote (from MLflow run run42) |"
        in text
    )
    assert "embedded (from the model names recorded in the rows)" in text  # the responder


def test_a_bad_row_names_file_line_and_field_and_leaves_the_old_export(workspace: Path) -> None:
    out = workspace / "exports/dataset"
    ds.export_dataset(workspace, out, FAST)
    before = (out / "README.md").read_text()
    train = workspace / "data/curated/train.jsonl"
    lines = train.read_text().splitlines()
    lines[2] = lines[2].replace('"difficulty": 3', '"difficulty": 9')
    train.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"train.jsonl: line 3: field 'difficulty'"):
        ds.export_dataset(workspace, out, ds.DatasetExportConfig(check=False, allow_unlocked=True))
    assert (out / "README.md").read_text() == before


def test_a_file_that_differs_from_dvc_lock_is_refused(workspace: Path) -> None:
    (workspace / "data/curated/rejected.jsonl").write_text("")
    with pytest.raises(PublishError, match=r"rejected.jsonl: md5 .* differs from dvc.lock"):
        ds.export_dataset(workspace, workspace / "exports/dataset", FAST)
    assert not (workspace / "exports/dataset").exists()


def test_cli_prints_the_listing(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = workspace / "exports/dataset"
    argv = ["--root", str(workspace), "--out", str(out), "--no-check", "--no-mlflow"]
    assert ds.main([*argv, "--license", "apache-2.0"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert [line.split()[-1] for line in printed] == [
        str(out / "README.md"),
        str(out / "data/train.jsonl"),
        str(out / "rejected/train.jsonl"),
    ]
    assert DatasetCard.load(out / "README.md").data.license == "apache-2.0"


def test_cli_reports_a_missing_curated_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert ds.main(["--root", str(tmp_path), "--out", str(tmp_path / "x"), "--no-mlflow"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("export-dataset: ") and "data/curated/train.jsonl: file not found" in err


def test_self_check_catches_a_row_count_mismatch(workspace: Path, offline: None) -> None:
    out = workspace / "exports/dataset"
    ds.export_dataset(workspace, out, FAST)
    facts = ds.gather_facts(ds.Workspace(root=workspace), FAST, lambda p, m: {})
    wrong = facts.model_copy(update={"train": facts.train.model_copy(update={"rows": 99})})
    with pytest.raises(
        PublishError, match=r"config 'default': load_dataset gave 5 rows, .* has 99"
    ):
        ds.check_loadable(out, wrong)
