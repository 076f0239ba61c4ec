import os
import stat
import subprocess
import sys
import textwrap

import pytest

from medinstruct_core import lineage


def _make_fake_dvc(tmp_path):
    """A program named `dvc` that runs two child "stages", each printing its repro id."""
    script = tmp_path / "dvc"
    child = "from medinstruct_core.lineage import repro_id; print(repro_id())"
    script.write_text(
        textwrap.dedent(f"""\
        #!{sys.executable}
        import subprocess, sys
        for _ in range(2):
            subprocess.run(["/bin/sh", "-c", '{sys.executable} -c "{child}"'], check=True)
    """)
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def test_stages_of_one_dvc_process_share_a_repro_id_and_runs_differ(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "MEDINSTRUCT_REPRO_ID"}
    fake = _make_fake_dvc(tmp_path)
    first = subprocess.run(
        [str(fake)], capture_output=True, text=True, check=True, env=env
    ).stdout.split()
    second = subprocess.run(
        [str(fake)], capture_output=True, text=True, check=True, env=env
    ).stdout.split()
    assert len(first) == 2 and first[0] == first[1] and first[0].startswith("dvc-")
    assert second[0] == second[1] and second[0] != first[0]


def test_repro_id_env_override(monkeypatch):
    monkeypatch.setenv("MEDINSTRUCT_REPRO_ID", "ci-123")
    assert lineage.repro_id() == "ci-123"


@pytest.mark.slow
def test_md5s_match_what_dvc_records(tmp_path):
    (tmp_path / "data" / "sub").mkdir(parents=True)
    (tmp_path / "data" / "a.txt").write_text("alpha\n")
    (tmp_path / "data" / "sub" / "b.txt").write_text("beta\n")
    (tmp_path / "f.jsonl").write_text('{"x": 1}\n')
    run = lambda *cmd: subprocess.run(cmd, cwd=tmp_path, check=True, capture_output=True)  # noqa: E731
    run("git", "init", "-q")
    run(sys.executable, "-m", "dvc", "init", "-q")
    run(sys.executable, "-m", "dvc", "add", "-q", "data", "f.jsonl")
    import yaml

    recorded = {
        p: yaml.safe_load((tmp_path / f"{p}.dvc").read_text())["outs"][0]["md5"]
        for p in ("data", "f.jsonl")
    }
    assert lineage.input_md5s(tmp_path, ["data", "f.jsonl"]) == recorded


def test_md5_comes_from_the_file_not_a_stale_dvc_lock(tmp_path):
    import hashlib

    (tmp_path / "out.jsonl").write_text("new\n")
    (tmp_path / "dvc.lock").write_text(
        "schema: '2.0'\nstages:\n  s:\n    cmd: x\n    outs:\n    - path: out.jsonl\n      md5: 0000\n"
    )
    assert lineage.input_md5s(tmp_path, ["out.jsonl"]) == {
        "out.jsonl": hashlib.md5(b"new\n").hexdigest()
    }
