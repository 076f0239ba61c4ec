import shutil

import pytest
import yaml

from medinstruct_core import profiles


def test_every_profile_renders_and_keeps_comments(project_root):
    for name in profiles.available(project_root):
        text = profiles.render(project_root, name)
        data = yaml.safe_load(text)
        assert data["profile"] == name
        assert "# medinstruct parameters" in text


def test_paper_profile_sets_alpacare_scale(project_root):
    data = yaml.safe_load(profiles.render(project_root, "paper"))
    gen, teacher, train = data["generate_instructions"], data["llm"]["teacher"], data["train"]
    assert (gen["num_tasks"], gen["seed_tasks_per_prompt"], gen["tasks_per_request"]) == (
        52000,
        3,
        12,
    )
    assert (teacher["sampling"]["temperature"], teacher["sampling"]["presence_penalty"]) == (
        1.0,
        1.5,
    )
    assert (train["num_train_epochs"], train["learning_rate"], train["max_length"]) == (
        3,
        2e-5,
        512,
    )
    # the global batch: per device x accumulation x processes (AlpaCare: 128 on 4 GPUs)
    assert (
        train["per_device_train_batch_size"]
        * train["gradient_accumulation_steps"]
        * train["num_processes"]
        == 128
    )


def test_use_rewrites_params_and_unknown_keys_fail(tmp_path, project_root):
    for rel in ("params.yaml", "dvc.yaml"):
        shutil.copy(project_root / rel, tmp_path / rel)
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "typo.yaml").write_text("train: {lerning_rate: 1}\n")
    shutil.copy(project_root / "profiles" / "smoke.yaml", tmp_path / "profiles" / "smoke.yaml")
    profiles.use(tmp_path, "smoke")
    assert yaml.safe_load((tmp_path / "params.yaml").read_text())["train"]["max_steps"] == 6
    with pytest.raises(SystemExit, match=r"unknown params key 'train\.lerning_rate'"):
        profiles.render(tmp_path, "typo")
    with pytest.raises(SystemExit, match="unknown profile 'nope'"):
        profiles.render(tmp_path, "nope")


def test_smoke_copy_takes_sources_but_never_stale_stage_outputs(tmp_path):
    import subprocess

    src, dest = tmp_path / "src", tmp_path / "dest"
    (src / "data").mkdir(parents=True)
    (src / "dvc.yaml").write_text("stages:\n  s:\n    cmd: x\n    outs: [data/out.jsonl]\n")
    (src / "data" / "out.jsonl").write_text("stale\n")
    (src / "new_code.py").write_text("print(1)\n")
    subprocess.run(["git", "init", "-q"], cwd=src, check=True)
    dest.mkdir()
    profiles._copy_tree(src, dest)
    assert sorted(p.name for p in dest.rglob("*") if p.is_file()) == ["dvc.yaml", "new_code.py"]
