"""pipelines/evaluate.py end to end: tiny models, a fake judge server, MLflow in tmp."""

import importlib.util
import json
from pathlib import Path

import pytest
import yaml

from medinstruct_core.io import read_jsonl, write_jsonl
from medinstruct_eval.judge import PanelVerdict

REPO = Path(__file__).resolve().parents[2]


def _load_pipeline():
    spec = importlib.util.spec_from_file_location(
        "evaluate_pipeline", REPO / "pipelines" / "evaluate.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _judge_prefers_answer_a(body):
    return json.dumps({"reason": "first is better", "winner": "A"})


@pytest.mark.slow
def test_evaluate_stage_writes_answers_verdicts_and_metrics(
    tmp_path, monkeypatch, tiny_model_dir, items, fake_openai
):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["evaluate"] = {
        "num_items": 2,
        "max_new_tokens": 4,
        "batch_size": 2,
        "bootstrap_samples": 50,
        # both models through the Alpaca template: identical prompts, so the cache shows;
        # and a model behind an OpenAI-compatible endpoint (the fake server) beside them
        "candidates": [
            {"name": "base", "template": "alpaca"},
            {"name": "student", "template": "alpaca"},
            {"name": "api", "endpoint": fake_openai.base_url, "model_name": "fake-model"},
        ],
        "calibration": {"path": str(REPO / "data/eval/calibration.jsonl"), "num_items": 2},
        "head_to_head": True,
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    write_jsonl(tmp_path / "eval.jsonl", items)
    (tmp_path / "student").symlink_to(tiny_model_dir, target_is_directory=True)
    fake_openai.responder = _judge_prefers_answer_a
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("MEDINSTRUCT_REPRO_ID", "dvc-1-1")
    pipeline = _load_pipeline()

    rc = pipeline.main([
        "--params", str(tmp_path / "params.yaml"), "--eval-set", str(tmp_path / "eval.jsonl"),
        "--base", str(tiny_model_dir), "--student", str(tmp_path / "student"),
        "--out", str(tmp_path / "reports"), "--metrics", str(tmp_path / "metrics.json"),
        "--replies", str(tmp_path / "replies"),
    ])  # fmt: skip

    assert rc == 0
    answers = [
        json.loads(line)
        for line in (tmp_path / "reports" / "answers.jsonl").read_text().splitlines()
    ]
    assert [(a["item_id"], a["candidate"]) for a in answers] == [
        ("q1", "base"), ("q2", "base"), ("q1", "student"), ("q2", "student"),
        ("q1", "api"), ("q2", "api"),
    ]  # fmt: skip
    assert answers[2]["model_dir"] == "student"
    assert answers[4]["model_dir"] == f"{fake_openai.base_url} (fake-model)"
    assert answers[4]["answer"] == _judge_prefers_answer_a({})  # the fake answers everyone alike
    verdicts = read_jsonl(tmp_path / "reports" / "verdicts.jsonl", PanelVerdict)
    assert len(verdicts) == 12
    assert {v.eval_set for v in verdicts} == {"medinstruct"}
    # Base and student are the same tiny model here, so their judge prompts are identical
    # and the client's cache answers the second copy: the server sees each prompt once,
    # plus the 2 calibration pairs in both orders, the endpoint's 2 answers and its 4 verdicts,
    # and student against base directly: identical answers, so both orders are one prompt per item.
    assert len(fake_openai.seen()) == 4 + 4 + 2 + 4 + 2
    # A judge that always picks A: wins when the candidate is first, loses when it is second.
    assert [v.winner for v in verdicts[:2]] == ["candidate", "reference"]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["num_items"] == 2
    assert metrics["medinstruct_student_win_rate"] == metrics["medinstruct_base_win_rate"] == 0.5
    assert metrics["medinstruct_student_first_position_rate"] == 1.0
    assert metrics["medinstruct_student_lc_win_rate"] is None  # 2 items < min_items_lc
    assert (
        metrics["paired.student_vs_base.delta"] == 0.0 and metrics["paired.student_vs_base.n"] == 2
    )
    assert metrics["paired.student_vs_api.n"] == 2
    assert metrics["h2h.student_vs_base.win_rate"] == 0.5 and metrics["h2h.student_vs_base.n"] == 2
    assert len((tmp_path / "reports" / "head_to_head.jsonl").read_text().splitlines()) == 4
    (position,) = [k for k in metrics if k.startswith("position_") and k.endswith("_first_rate")]
    assert metrics[position] == 1.0  # the judge's own name (llm.judge.model) is in the key
    assert metrics[position.replace("_first_rate", "_trusted")] == 0
    # a judge that always answers A is caught by calibration and by its real verdicts
    assert metrics["judge_trusted"] == 0
    headline = "No detectable difference between student and base at n = 2"
    assert metrics["headline"].startswith(headline)
    report = (tmp_path / "reports" / "report.md").read_text().splitlines()
    assert report[2].startswith(headline) and "**The judge is too weak to trust" in "\n".join(
        report
    )
    assert "No promotion decision: the student is not a registered model version." in report
    assert f"| api | endpoint | `{fake_openai.base_url} (fake-model)` | chat_template |" in report
    assert "| student | local | `student` | alpaca |" in report
    rows = json.loads((tmp_path / "reports" / "leaderboard.json").read_text())
    assert [r["candidate"] for r in rows] == ["base", "student", "api"]
    assert (tmp_path / "mlruns").is_dir()
    assert list((tmp_path / "replies").glob("*.jsonl"))  # the judge's and the endpoint's replies
