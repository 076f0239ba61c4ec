"""push-hub: refuses before any work without HF_TOKEN; uploads through a recording HfApi double."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from huggingface_hub import constants

from medinstruct_publish import dataset as ds
from medinstruct_publish import hub

SECRET = "hf_not_a_real_token_0123456789"
ROOT = Path(__file__).resolve().parents[2]


class RecordingApi:
    """A unit-test double of HfApi: records the two calls, or fails the upload."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail = fail

    def create_repo(self, repo_id: str, **kwargs: Any) -> str:
        self.calls.append(("create_repo", {"repo_id": repo_id, **kwargs}))
        return f"https://huggingface.co/datasets/{repo_id}"

    def upload_folder(self, **kwargs: Any) -> Any:
        self.calls.append(("upload_folder", kwargs))
        if self.fail is not None:
            raise self.fail
        return type("CommitInfo", (), {"commit_url": f"https://hf.co/{kwargs['repo_id']}/commit/1"})


@pytest.fixture
def online(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)


@pytest.fixture
def export(workspace: Path) -> Path:
    out = workspace / "exports/dataset"
    ds.export_dataset(workspace, out, ds.DatasetExportConfig(check=False))
    return out


def argv(folder: Path, *extra: str) -> list[str]:
    return ["--repo", "me/medinstruct", "--kind", "dataset", "--folder", str(folder), *extra]


def test_missing_token_fails_first_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api = RecordingApi()
    # the folder does not even exist: the token is checked before anything else
    assert hub.main(argv(tmp_path / "absent"), env={}, api=api) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("push-hub: HF_TOKEN is not set")
    assert api.calls == []


def test_module_entry_point_exits_2_without_token(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "HF_TOKEN"}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "packages/publish/src"), env.get("PYTHONPATH", "")]
    )
    result = subprocess.run(
        [sys.executable, "-m", "medinstruct_publish.hub", *argv(tmp_path)],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "HF_TOKEN is not set" in result.stderr and result.stdout == ""


def test_offline_mode_is_refused_before_upload(
    export: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    api = RecordingApi()
    assert hub.main(argv(export), env={"HF_TOKEN": SECRET}, api=api) == 2
    assert "HF_HUB_OFFLINE=1 blocks uploads" in capsys.readouterr().err
    assert api.calls == []


def test_a_folder_without_a_card_is_refused(
    tmp_path: Path, online: None, capsys: pytest.CaptureFixture[str]
) -> None:
    api = RecordingApi()
    assert hub.main(argv(tmp_path), env={"HF_TOKEN": SECRET}, api=api) == 2
    assert "no README.md" in capsys.readouterr().err
    assert api.calls == []


def test_upload_creates_a_private_repo_then_uploads_the_folder(
    export: Path, online: None, capsys: pytest.CaptureFixture[str]
) -> None:
    api = RecordingApi()
    assert hub.main(argv(export), env={"HF_TOKEN": SECRET}, api=api) == 0
    assert api.calls == [
        ("create_repo", {"repo_id": "me/medinstruct", "repo_type": "dataset", "private": True,
                         "exist_ok": True}),
        ("upload_folder", {"repo_id": "me/medinstruct", "repo_type": "dataset",
                           "folder_path": str(export),
                           "commit_message": "Upload the medinstruct dataset export"}),
    ]  # fmt: skip
    out = capsys.readouterr().out
    assert out.strip().endswith("https://hf.co/me/medinstruct/commit/1")
    assert SECRET not in out


def test_public_flag_and_model_kind(workspace: Path, online: None) -> None:
    from medinstruct_publish import model as md

    out = workspace / "exports/model"
    md.export_model(workspace, out, md.ModelExportConfig())
    api = RecordingApi()
    args = ["--repo", "me/student", "--kind", "model", "--folder", str(out), "--public"]
    assert hub.main(args, env={"HF_TOKEN": SECRET}, api=api) == 0
    assert api.calls[0][1]["private"] is False and api.calls[0][1]["repo_type"] == "model"


def test_a_hub_failure_exits_1_without_printing_the_token(
    export: Path, online: None, capsys: pytest.CaptureFixture[str]
) -> None:
    api = RecordingApi(fail=RuntimeError("403 Forbidden: no write access"))
    assert hub.main(argv(export), env={"HF_TOKEN": SECRET}, api=api) == 1
    captured = capsys.readouterr()
    assert "upload to me/medinstruct failed: RuntimeError: 403 Forbidden" in captured.err
    assert SECRET not in captured.err + captured.out


def test_a_card_without_license_is_refused(export: Path, online: None) -> None:
    readme = export / "README.md"
    readme.write_text(readme.read_text().replace("license: cc-by-nc-4.0\n", ""))
    with pytest.raises(hub.HubError, match="field 'license' is missing"):
        hub.check_folder(export, "dataset")
