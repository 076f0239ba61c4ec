"""`make review-export` then `make review-import`: the clinician review round trip through the
stage runner, as a user runs it (blinded CSV out, filled CSV in, rates in metrics and MLflow)."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

from medinstruct_core.io import write_jsonl

REPO = Path(__file__).resolve().parents[2]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"{name}_cli", REPO / "pipelines" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _items() -> list[dict]:
    return [
        {"id": f"q{i}", "instruction": f"Question {i} about asthma?", "reference": f"Ref {i}."}
        for i in range(1, 4)
    ]


def _answers() -> list[dict]:
    return [
        {"item_id": f"q{i}", "candidate": model, "answer": f"Answer {i}, take {take}."}
        for model, take in (("student", "one"), ("base", "two"))
        for i in range(1, 4)
    ]


def _fill(blinded: Path, filled: Path, key: dict) -> None:
    """A rater who marks every student answer correct and helpful, every base answer wrong."""
    with blinded.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    labels = {item: entry["labels"] for item, entry in key["items"].items()}
    for row in rows:
        for label, model in labels[row["item"]].items():
            good = "1" if model == "student" else "0"
            row[f"{label}_correct"] = row[f"{label}_helpful"] = good
    with filled.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_export_is_blinded_and_import_scores_each_model(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    (tmp_path / "params.yaml").write_text("seed: 1\nreview: {seed: 3}\n")
    write_jsonl(tmp_path / "eval.jsonl", _items())
    write_jsonl(tmp_path / "answers.jsonl", _answers())
    common = ["--params", str(tmp_path / "params.yaml")]
    blinded, key_path = tmp_path / "blinded.csv", tmp_path / "key" / "key.json"
    assert _load("review_export").main([
        *common, "--no-mlflow", "--eval-set", str(tmp_path / "eval.jsonl"),
        "--answers", str(tmp_path / "answers.jsonl"), "--csv", str(blinded), "--key", str(key_path),
    ]) == 0  # fmt: skip
    text = blinded.read_text(encoding="utf-8-sig")
    assert "student" not in text and "base" not in text
    key = json.loads(key_path.read_text())
    _fill(blinded, tmp_path / "filled.csv", key)

    # the judge's run (an earlier evaluate stage) and its verdicts: student beats every reference
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    with mlflow.start_run(tags={"medinstruct.stage": "evaluate"}) as judged:
        pass
    write_jsonl(tmp_path / "verdicts.jsonl", [
        {"item_id": f"q{i}", "candidate": model, "order": order, "judge": "qwen",
         "eval_set": "medinstruct", "winner": "candidate" if model == "student" else "reference"}
        for i in range(1, 4) for model in ("student", "base")
        for order in ("candidate_first", "reference_first")
    ])  # fmt: skip

    assert _load("review_import").main([
        *common, "--filled", str(tmp_path / "filled.csv"), "--key", str(key_path),
        "--verdicts", str(tmp_path / "verdicts.jsonl"), "--metrics", str(tmp_path / "results.json"),
    ]) == 0  # fmt: skip
    metrics = json.loads((tmp_path / "results.json").read_text())
    assert metrics["review/items"] == 3.0
    assert metrics["review/student/correct_rate"] == metrics["review/student/helpful_rate"] == 1.0
    assert metrics["review/base/correct_rate"] == 0.0
    assert (
        metrics["review/agreement/qwen/share"] == 1.0 and metrics["review/agreement/qwen/n"] == 3.0
    )
    out = capsys.readouterr().out
    # everyone prefers the student: agreement is total but kappa (chance-corrected) undefined
    assert (
        "3 items rated" in out
        and "Judge 'qwen': agreement with the raters cannot be measured" in out
    )
    logged = mlflow.get_run(judged.info.run_id).data.metrics
    assert logged["review/agreement/qwen/share"] == 1.0


def test_import_names_the_bad_row_and_column(tmp_path, capsys):
    (tmp_path / "params.yaml").write_text("seed: 1\nreview: {}\n")
    write_jsonl(tmp_path / "eval.jsonl", _items())
    write_jsonl(tmp_path / "answers.jsonl", _answers())
    blinded, key_path = tmp_path / "blinded.csv", tmp_path / "key.json"
    common = ["--params", str(tmp_path / "params.yaml"), "--no-mlflow"]
    _load("review_export").main([
        *common, "--eval-set", str(tmp_path / "eval.jsonl"), "--answers", str(tmp_path / "answers.jsonl"),
        "--csv", str(blinded), "--key", str(key_path),
    ])  # fmt: skip
    _fill(blinded, tmp_path / "filled.csv", json.loads(key_path.read_text()))
    lines = (tmp_path / "filled.csv").read_text().splitlines()
    lines[2] = (
        lines[2].replace(",1,", ",maybe,", 1)
        if ",1," in lines[2]
        else lines[2].replace(",0,", ",maybe,", 1)
    )
    (tmp_path / "filled.csv").write_text("\n".join(lines) + "\n")
    code = _load("review_import").main(
        [*common, "--filled", str(tmp_path / "filled.csv"), "--key", str(key_path)]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "row 2" in err and "'maybe'" in err
