"""API keys come from the environment only and never land in MLflow, DVC outs, caches or logs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from medinstruct_core.io import write_jsonl
from tests.datagen.test_instructions import SEEDS, json_reply, load_pipeline, unique_task

SECRET = "sk-test-DO-NOT-LEAK-7f3a9c"


@pytest.mark.slow
def test_api_key_is_used_but_never_written(
    tmp_path: Path,
    fake_openai: Any,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    calls = iter(range(1000))
    fake_openai.responder = lambda body: (
        json_reply([unique_task(next(calls), j) for j in range(4)])
        if body.get("response_format")
        else "Rest and fluids."
    )
    # endpoint: auto + the standard variables: the documented way to point at a server
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    import yaml

    params = yaml.safe_load((Path(__file__).resolve().parents[2] / "params.yaml").read_text())
    params["llm"]["client"]["cache_dir"] = ".cache/llm"
    params["generate_instructions"].update(num_tasks=4, tasks_per_request=4, max_requests=2)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    write_jsonl(tmp_path / "seeds.jsonl", SEEDS)

    gen = load_pipeline("generate_instructions", tmp_path)
    assert gen.main(["--params", str(tmp_path / "params.yaml"), "--seeds", str(tmp_path / "seeds.jsonl"),
                     "--out", str(tmp_path / "ins.jsonl"), "--metrics", str(tmp_path / "m1.json"),
                     "--plots-dir", str(tmp_path / "plots"), "--replies", str(tmp_path / "r1")]) == 0  # fmt: skip
    resp = load_pipeline("generate_responses", tmp_path)
    assert resp.main(["--params", str(tmp_path / "params.yaml"), "--instructions", str(tmp_path / "ins.jsonl"),
                      "--out", str(tmp_path / "ex.jsonl"), "--metrics", str(tmp_path / "m2.json"),
                      "--replies", str(tmp_path / "r2")]) == 0  # fmt: skip

    assert {s.authorization for s in fake_openai.seen()} == {f"Bearer {SECRET}"}  # the key was used
    assert json.loads((tmp_path / "m2.json").read_text())["examples"] == 4
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "mlflow.db" for p in written) and any(".cache" in p.parts for p in written)
    assert any(
        p.parent.name == "r2" for p in written
    )  # the reply stores were written, and checked too
    leaks = [str(p) for p in written if SECRET.encode() in p.read_bytes()]
    assert leaks == []
    out, err = capfd.readouterr()
    assert SECRET not in out + err
